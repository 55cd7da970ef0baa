// The one client of the server's HTTP API. `request.ts` is the core (same-origin JSON, the
// session's 401, one `ApiError`); one file per resource holds its types and calls. Views
// import from here, never `fetch` themselves. The live websocket is `live/client.ts`.

export * from './auth';
export * from './cases';
export * from './error';
export * from './kpi';
export * from './session';
export * from './tiles';
export * from './units';
export * from './workers';
