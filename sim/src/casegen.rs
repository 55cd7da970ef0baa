//! What the simulator reports as cases: the category, source and severity mix of a Chinese
//! city's grid governance, titles and descriptions from small per-category templates, made-up
//! reporters with obviously fake phone numbers (`1390000xxxx`), and Poisson arrivals. Pure:
//! the caller passes the random source.

use std::time::Duration;

use rand::Rng;

/// The share of each category among the cases raised, per mille (sums to 1000): disputes lead,
/// then safety hazards and city appearance, fire is rare.
pub const CATEGORY_MIX: [(&str, u32); 8] = [
    ("dispute", 250),
    ("safety_hazard", 200),
    ("city_appearance", 180),
    ("environment", 120),
    ("public_service", 120),
    ("public_order", 80),
    ("fire", 20),
    ("other", 30),
];

/// Where cases come from, per mille: a worker's own patrol report (posted by the worker's
/// phone), the 12345 hotline, 110 non-police calls, walk-ins at the center.
pub const SOURCE_MIX: [(Source, u32); 4] = [
    (Source::Patrol, 400),
    (Source::Hotline12345, 350),
    (Source::Police110, 150),
    (Source::WalkIn, 100),
];

/// Marks the simulator's cases in their address, so that a later run finds the ones it left
/// open (`GET /api/cases?q=`) and the dispatcher loop never touches anyone else's.
pub const SIM_MARK: &str = "（模拟）";

/// Where a case came from (the API's `source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// 网格上报: reported by a worker's phone.
    Patrol,
    /// 12345 政务服务热线.
    Hotline12345,
    /// 110 非警务警情.
    Police110,
    /// 来访.
    WalkIn,
}

impl Source {
    /// The API's code.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Patrol => "patrol",
            Self::Hotline12345 => "hotline_12345",
            Self::Police110 => "police_110",
            Self::WalkIn => "walk_in",
        }
    }
}

/// One case to raise (the body of `POST /api/cases` but the position).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    /// Category code.
    pub category: &'static str,
    pub source: Source,
    /// 1 (low) – 4 (most urgent).
    pub severity: i16,
    /// Short title.
    pub title: String,
    /// What the reporter said.
    pub description: String,
    /// Reporter's name (none for a worker's own report).
    pub reporter_name: Option<String>,
    /// Reporter's phone, a fake mobile number (none for a worker's own report).
    pub reporter_phone: Option<String>,
}

/// Picks from a per-mille table; the last item when the weights do not reach `total`.
fn weighted<T: Copy>(table: &[(T, u32)], rng: &mut impl Rng) -> Option<T> {
    let total: u32 = table.iter().map(|(_, w)| w).sum();
    if total == 0 {
        return None;
    }
    let mut x = rng.random_range(0..total);
    for (item, w) in table {
        if x < *w {
            return Some(*item);
        }
        x -= w;
    }
    table.last().map(|(item, _)| *item)
}

/// (title, description) templates per category; `{}` in a description takes a place word.
fn templates(category: &str) -> &'static [(&'static str, &'static str)] {
    match category {
        "dispute" => &[
            (
                "邻里噪音纠纷",
                "楼上住户夜间噪音扰民，双方多次争执，请求调解",
            ),
            ("宅基地边界纠纷", "两户村民因宅基地边界发生争执，情绪激动"),
            ("物业费纠纷", "业主与物业因物业费及服务质量产生矛盾"),
            ("拖欠工资纠纷", "多名务工人员反映工地拖欠工资，聚集讨要"),
            ("家庭矛盾", "夫妻因家务琐事争吵，邻居担心发生冲突"),
        ],
        "safety_hazard" => &[
            ("楼道堆放杂物", "楼道内堆放纸箱和旧家具，堵塞安全通道"),
            ("电动车违规充电", "居民从楼上拉线给电动车充电，存在火灾隐患"),
            ("井盖破损", "路边井盖破损下陷，行人车辆经过有危险"),
            ("广告牌松动", "沿街广告牌固定件松动，大风天气有坠落风险"),
            ("燃气管道老化", "老旧小区燃气管道锈蚀，居民闻到异味"),
        ],
        "city_appearance" => &[
            ("占道经营", "流动摊贩在人行道摆摊，影响通行"),
            ("乱贴小广告", "小区围墙和电线杆上张贴大量小广告"),
            ("违章搭建", "住户在楼顶私自搭建彩钢棚"),
            ("共享单车乱停放", "地铁口共享单车堆放，占用盲道"),
        ],
        "environment" => &[
            ("垃圾未及时清运", "垃圾桶满溢，周边散发异味"),
            ("河道漂浮物", "河道内有大量漂浮垃圾"),
            ("油烟扰民", "沿街餐饮店油烟直排，居民投诉"),
            ("建筑工地扬尘", "工地未覆盖裸土，扬尘较大"),
        ],
        "public_service" => &[
            ("路灯不亮", "小区主干道路灯多日不亮，夜间出行不便"),
            ("独居老人需要帮扶", "独居老人行动不便，需要上门帮扶"),
            ("停水咨询", "居民反映小区突然停水，询问恢复时间"),
            ("低保政策咨询", "困难家庭咨询低保申请流程"),
        ],
        "public_order" => &[
            ("可疑人员逗留", "有陌生人员在小区内多次徘徊，居民担心"),
            ("醉酒滋事", "有人酒后在路边大声吵闹，影响周边"),
            ("群租房人员复杂", "出租屋人员进出频繁，疑似群租"),
        ],
        "fire" => &[
            ("消防通道被占", "私家车长期停放在消防通道上"),
            ("灭火器过期", "小区楼道灭火器已过期，压力不足"),
            ("沿街商铺住人", "沿街商铺内有人居住，存在消防隐患"),
        ],
        _ => &[
            ("流浪犬伤人隐患", "小区附近有流浪犬出没，居民担心伤人"),
            ("其他求助", "群众来电求助，需网格员上门了解情况"),
        ],
    }
}

const SURNAMES: [&str; 16] = [
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "朱", "马", "胡", "郭",
];

/// Severity, by category: fire and public order are more often urgent, public service rarely.
fn severity(category: &str, rng: &mut impl Rng) -> i16 {
    let table: [(i16, u32); 4] = match category {
        "fire" => [(1, 50), (2, 300), (3, 450), (4, 200)],
        "public_order" | "safety_hazard" => [(1, 150), (2, 450), (3, 300), (4, 100)],
        "public_service" | "other" => [(1, 450), (2, 450), (3, 100), (4, 0)],
        _ => [(1, 300), (2, 500), (3, 170), (4, 30)],
    };
    weighted(&table, rng).unwrap_or(2)
}

/// A made-up reporter: a surname and 先生/女士, and a phone number in the 1390000xxxx range
/// (`139` then four zeros: plainly not a real subscriber).
fn reporter(rng: &mut impl Rng) -> (String, String) {
    let surname = SURNAMES[rng.random_range(0..SURNAMES.len())];
    let title = if rng.random_bool(0.5) {
        "先生"
    } else {
        "女士"
    };
    (
        format!("{surname}{title}"),
        format!("1390000{:04}", rng.random_range(0..10_000)),
    )
}

/// One case to raise, from the mixes above.
pub fn draft(rng: &mut impl Rng) -> Draft {
    let category = weighted(&CATEGORY_MIX, rng).unwrap_or("other");
    let source = weighted(&SOURCE_MIX, rng).unwrap_or(Source::Hotline12345);
    let list = templates(category);
    let (title, what) = list[rng.random_range(0..list.len())];
    let (lead, reporter) = match source {
        Source::Patrol => ("网格员巡查发现：", None),
        Source::Hotline12345 => ("12345热线转办：", Some(reporter(rng))),
        Source::Police110 => ("110非警务警情分流：", Some(reporter(rng))),
        Source::WalkIn => ("群众来访反映：", Some(reporter(rng))),
    };
    let (reporter_name, reporter_phone) = reporter.unzip();
    Draft {
        category,
        source,
        severity: severity(category, rng),
        title: title.to_owned(),
        description: format!("{lead}{what}。"),
        reporter_name,
        reporter_phone,
    }
}

/// The wait before the next arrival of a Poisson process of `per_hour` events an hour (an
/// exponential variate); `None` when the rate is not positive.
pub fn next_arrival(per_hour: f64, rng: &mut impl Rng) -> Option<Duration> {
    if !(per_hour.is_finite() && per_hour > 0.0) {
        return None;
    }
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    Some(Duration::from_secs_f64(
        (-u.ln() * 3600.0 / per_hour).min(1e9),
    ))
}

/// A note for a transition, by action: what a worker or a dispatcher would write.
pub fn note(action: &str, rng: &mut impl Rng) -> &'static str {
    let list: &[&str] = match action {
        "resolve" => &[
            "已到现场处置完毕，拍照留档",
            "现场协调双方达成一致，问题已解决",
            "已联系相关单位处理完毕",
            "已清理完毕，恢复正常",
        ],
        "decline" => &[
            "正在处理另一起事件，无法及时到场",
            "不在辖区附近，请改派",
            "身体不适，申请改派",
        ],
        "follow_up" => &[
            "电话回访，群众表示满意",
            "上门回访，问题未再发生",
            "回访群众，对处置结果基本满意",
        ],
        _ => &["超时无人可派，上报升级", "需上级协调处置，上报升级"],
    };
    list[rng.random_range(0..list.len())]
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng as _;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn mixes_are_per_mille() {
        assert_eq!(CATEGORY_MIX.iter().map(|(_, w)| w).sum::<u32>(), 1000);
        assert_eq!(SOURCE_MIX.iter().map(|(_, w)| w).sum::<u32>(), 1000);
    }

    #[test]
    fn drafts_follow_the_mix() {
        let mut rng = StdRng::seed_from_u64(5);
        let drafts: Vec<Draft> = (0..10_000).map(|_| draft(&mut rng)).collect();
        let share = |f: &dyn Fn(&Draft) -> bool| {
            #[allow(clippy::cast_precision_loss, reason = "small counts")]
            let n = drafts.iter().filter(|d| f(d)).count() as f64;
            n / 10_000.0
        };
        assert!((share(&|d| d.category == "dispute") - 0.25).abs() < 0.02);
        assert!((share(&|d| d.category == "fire") - 0.02).abs() < 0.01);
        assert!((share(&|d| d.source == Source::Patrol) - 0.40).abs() < 0.02);
        assert!((share(&|d| d.source == Source::WalkIn) - 0.10).abs() < 0.02);
        for d in &drafts {
            assert!((1..=4).contains(&d.severity));
            assert!(!d.title.is_empty() && d.title.chars().count() <= 200);
            // A worker's own report names no reporter; every other one does, with a fake number.
            assert_eq!(d.source == Source::Patrol, d.reporter_name.is_none());
            if let Some(p) = &d.reporter_phone {
                assert!(p.starts_with("1390000") && p.len() == 11, "{p}");
            }
        }
    }

    #[test]
    fn arrivals_average_the_rate() {
        let mut rng = StdRng::seed_from_u64(9);
        let total: f64 = (0..20_000)
            .map(|_| next_arrival(120.0, &mut rng).map_or(0.0, |d| d.as_secs_f64()))
            .sum();
        // 120 an hour: 30 s apart on average.
        assert!(
            (total / 20_000.0 - 30.0).abs() < 1.5,
            "{}",
            total / 20_000.0
        );
        assert_eq!(next_arrival(0.0, &mut rng), None);
        assert_eq!(next_arrival(f64::NAN, &mut rng), None);
    }
}
