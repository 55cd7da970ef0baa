-- Territory (属地) as one mechanism. Every scoped query binds the caller's territory root and
-- joins this function:
--
--     JOIN territory($n) scope ON g.tree_lo BETWEEN scope.lo AND scope.hi
--
-- where g is the unit the row belongs to. `root` is a units.id; NULL is the whole hierarchy.
-- A root that does not exist (a unit a re-import removed) gives NULL bounds, so nothing is
-- visible, never everything. `everything` tells the whole hierarchy apart for rows that belong
-- to no unit (a city-wide account): `scope.everything OR su.tree_lo BETWEEN scope.lo AND
-- scope.hi`.
--
-- The body is one SELECT without FROM in a STABLE, non-STRICT SQL function, so the planner
-- inlines it and pulls it up: the bounds become two one-row InitPlans and the range test an
-- index range on units (tree_lo), the same plan as the sub-selects written out by hand
-- (BENCHMARKS.md, "Territory in SQL"). Keep it that shape: a FROM clause or coalesce() over a
-- join here makes the bounds opaque to the planner and scoped lists many times slower.
CREATE FUNCTION territory(root bigint)
RETURNS TABLE (lo integer, hi integer, everything boolean)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN root IS NULL THEN -2147483648
                ELSE (SELECT u.tree_lo FROM units u WHERE u.id = root) END,
           CASE WHEN root IS NULL THEN 2147483647
                ELSE (SELECT u.tree_hi FROM units u WHERE u.id = root) END,
           root IS NULL
$$;

COMMENT ON FUNCTION territory(bigint) IS
    'The tree_lo range of the subtree rooted at unit root (NULL: everything; unknown: nothing).';
