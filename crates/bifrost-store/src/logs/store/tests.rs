use super::*;

#[test]
fn time_split_into_whole_minutes_and_edges() {
    let m = MINUTE_MS;
    assert_eq!(
        split_time(None, None),
        (
            Some(MinuteRange {
                from: None,
                to: None
            }),
            vec![]
        )
    );
    assert_eq!(
        split_time(Some(10 * m), Some(20 * m - 1)),
        (
            Some(MinuteRange {
                from: Some(10 * m),
                to: Some(20 * m)
            }),
            vec![]
        )
    );
    assert_eq!(
        split_time(Some(10 * m + 5), Some(20 * m + 7)),
        (
            Some(MinuteRange {
                from: Some(11 * m),
                to: Some(20 * m)
            }),
            vec![
                (Some(10 * m + 5), Some(11 * m - 1)),
                (Some(20 * m), Some(20 * m + 7))
            ]
        )
    );
    assert_eq!(
        split_time(Some(10 * m + 5), Some(10 * m + 7)),
        (None, vec![(Some(10 * m + 5), Some(10 * m + 7))])
    );
}

#[test]
fn cursor_round_trips_and_rejects_garbage() {
    let c = encode_cursor(1_700_000_000_123, "req:abc");
    assert_eq!(
        decode_cursor(&c).ok(),
        Some((1_700_000_000_123, "req:abc".into()))
    );
    assert!(decode_cursor("!!").is_err());
    assert!(decode_cursor(&URL_SAFE_NO_PAD.encode("nots")).is_err());
}
