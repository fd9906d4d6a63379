use super::*;

#[test]
fn calendar_windows() {
    // 2026-12-06 02:42:34 UTC, a Sunday.
    let now = 1_796_524_954;
    let day = |y, m, d| days_from_civil(y, m, d) * 86_400;
    assert_eq!(civil_from_days(now / 86_400), (2026, 12, 6));
    assert_eq!(
        Window::Months(1).bounds(now),
        (day(2026, 12, 1), day(2027, 1, 1))
    );
    assert_eq!(
        Window::Months(12).bounds(now),
        (day(2026, 1, 1), day(2027, 1, 1))
    );
    // Monday 2026-11-30.
    assert_eq!(
        Window::Weeks(1).bounds(now),
        (day(2026, 11, 30), day(2026, 12, 7))
    );
    assert_eq!(
        Window::Seconds(3600).bounds(now),
        (now - now % 3600, now - now % 3600 + 3600)
    );
    assert_eq!(day(2024, 3, 1) - day(2024, 2, 1), 29 * 86_400);
}

fn check(kind: Kind, limit: i64, amount: i64) -> Check {
    Check {
        spec: LimitSpec::new(kind, "x", limit, Window::Seconds(3600)),
        amount,
    }
}

#[test]
fn memory_reserves_all_or_none() {
    let m = Memory::default();
    let now = 1_796_438_554_000;
    let both = [check(Kind::Requests, 2, 1), check(Kind::Budget, 100, 60)];
    let r1 = m.reserve(&both, "a", now).unwrap();
    // The budget would go past its limit: neither counter moves.
    assert!(matches!(
        m.reserve(&both, "b", now),
        Err(Refusal::Exceeded(Exceeded { spec, used: 60, .. })) if spec.kind == Kind::Budget
    ));
    // Reconciled down to 10: the next fits, and the request count says 2.
    m.settle(&r1, &[0, -50], now);
    let r2 = m.reserve(&both, "b", now).unwrap();
    assert_eq!(r2.entries[0].used, 2);
    assert_eq!(r2.entries[1].used, 70);
    assert!(matches!(
        m.reserve(&[check(Kind::Requests, 2, 1)], "c", now),
        Err(Refusal::Exceeded(Exceeded { retry_after, .. })) if retry_after <= Duration::from_secs(3600)
    ));
    // A new window starts empty.
    assert!(m.reserve(&both, "d", now + 3_600_000).is_ok());
}

#[test]
fn memory_leases_are_returned() {
    let m = Memory::default();
    let c = [check(Kind::Concurrency, 1, 1)];
    let r = m.reserve(&c, "a", 0).unwrap();
    assert!(m.reserve(&c, "b", 0).is_err());
    m.settle(&r, &[0], 0);
    assert!(m.reserve(&c, "b", 0).is_ok());
}

#[test]
fn memory_settles_into_a_window_a_zero_reservation_did_not_open() {
    // A soft budget reserves 0; the cost settled afterwards still counts.
    let m = Memory::default();
    let now = 1_796_438_554_000;
    let budget = [check(Kind::Budget, 100, 0)];
    let r = m.reserve(&budget, "a", now).unwrap();
    m.settle(&r, &[150], now);
    assert!(matches!(
        m.reserve(&budget, "b", now),
        Err(Refusal::Exceeded(Exceeded { used: 150, .. }))
    ));
    // A reconciliation from a window that has ended changes nothing in the next.
    let next = now + 3_600_000;
    let r2 = m.reserve(&budget, "c", next).unwrap();
    m.settle(&r, &[50], next);
    m.settle(&r2, &[20], next);
    assert_eq!(r2.entries[0].used, 0);
    assert!(matches!(
        m.reserve(&[check(Kind::Budget, 100, 81)], "d", next),
        Err(Refusal::Exceeded(Exceeded { used: 20, .. }))
    ));
}

#[test]
fn redis_keys_name_the_window_or_the_lease_set() {
    let w = Window::Seconds(3600);
    let rl = LimitSpec::new(Kind::Requests, "r", 10, w);
    assert_eq!(
        redis_store::redis_key(&rl, 1_796_652_000),
        "bf:rl:r:req:1796652000"
    );
    assert_eq!(redis_store::redis_key(&rl, -3600), "bf:rl:r:req:-3600");
    let conc = LimitSpec::new(Kind::Concurrency, "vk", 2, w);
    assert_eq!(redis_store::redis_key(&conc, 5), "bf:vk:vk:conc");
}

#[test]
fn a_compiled_limit_counts_in_each_memory_apart() {
    // The limit keeps the first memory's slot; a second memory still counts on its own.
    let (a, b) = (Memory::default(), Memory::default());
    let now = 1_796_438_554_000;
    let one = [check(Kind::Requests, 1, 1)];
    assert!(a.reserve(&one, "1", now).is_ok());
    assert!(a.reserve(&one, "2", now).is_err());
    assert!(b.reserve(&one, "3", now).is_ok());
    assert!(b.reserve(&one, "4", now).is_err());
    // A limit compiled again (a new snapshot) finds the counter by its key.
    let again = [check(Kind::Requests, 1, 1)];
    assert!(a.reserve(&again, "5", now).is_err());
}

#[test]
fn kept_counters_survive_the_sweep_of_expired_ones() {
    let m = Memory::default();
    let hour = 3_600_000;
    let now = 1_796_436_000_000;
    let kept = [check(Kind::Requests, 5000, 1)];
    m.reserve(&kept, "k", now).unwrap();
    let other = |i: usize| {
        [Check {
            spec: LimitSpec::new(Kind::Tokens, &format!("t{i}"), 10, Window::Seconds(3600)),
            amount: 1,
        }]
    };
    for i in 0..4094 {
        m.reserve(&other(i), "o", now).unwrap();
    }
    // The 4,096th write sweeps expired counters, the kept limit's among them by time; but a
    // compiled limit keeps its slot, so the slot stays the one its key names.
    m.reserve(&other(4094), "o", now + 3 * hour).unwrap();
    m.reserve(&kept, "k", now + 3 * hour).unwrap();
    let later = (now + 3 * hour) / 1000;
    assert_eq!(lock(&m.state).used("bf:rl:x:req", later, later), 1);
}

#[test]
fn the_reserve_script_reads_one_packed_argument_and_answers_one_string() {
    use redis::FromRedisValue;
    let checks = [
        check(Kind::Requests, 100, 1),
        check(Kind::Budget, 5_000_000, -2),
        Check {
            spec: LimitSpec::new(Kind::Concurrency, "vk", 3, Window::Seconds(1)),
            amount: 1,
        },
    ];
    assert_eq!(
        redis_store::reserve_arg(&checks),
        "100 s3600 1;5000000 s3600 -2;3 c 1;"
    );
    let ints = |v| redis_store::Ints::from_redis_value(v).map(|i| i.0);
    assert_eq!(
        ints(redis::Value::BulkString(b"1 1796524954 7 -3".to_vec())).unwrap(),
        [1, 1_796_524_954, 7, -3]
    );
    // Anything else is an error (the request then follows `on_store_failure`), never a panic.
    for bad in [
        redis::Value::BulkString(b"1 x".to_vec()),
        redis::Value::BulkString(b"1  2".to_vec()),
        redis::Value::BulkString(b"-".to_vec()),
        redis::Value::BulkString(b"99999999999999999999".to_vec()),
        redis::Value::BulkString(b"".to_vec()),
        redis::Value::BulkString(vec![0xff]),
        redis::Value::Int(1),
        redis::Value::Nil,
    ] {
        assert!(ints(bad).is_err());
    }
}
