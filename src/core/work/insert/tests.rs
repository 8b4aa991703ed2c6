use super::*;

fn batch(cols: &[String], batch: usize) -> Batch<'_> {
    Batch {
        table: "t",
        columns: cols,
        key: Some(0),
        interval: Duration::ZERO,
        concurrency: 1,
        batch,
    }
}

#[test]
fn the_key_is_one_of_the_columns() {
    let cols = vec!["a".to_string(), "title".to_string()];
    assert_eq!(key_column(&cols, Some("title")).unwrap(), Some(1));
    assert_eq!(key_column(&cols, None).unwrap(), None);
    let e = key_column(&cols, Some("nope")).unwrap_err().to_string();
    assert!(e.contains("key \"nope\" is not one of the columns"), "{e}");
}

#[test]
fn bad_concurrency_and_batch_are_refused() {
    let cols = vec!["a".to_string()];
    let mut b = batch(&cols, 0);
    assert!(b
        .validate()
        .unwrap_err()
        .to_string()
        .contains("batch must be at least 1"));
    b.batch = 1;
    b.concurrency = 0;
    assert!(b
        .validate()
        .unwrap_err()
        .to_string()
        .contains("concurrency must be between"));
}

#[test]
fn a_refused_row_is_found_in_its_batch() {
    let rows: Vec<Vec<Value>> = ["T0", "T1", "T2"]
        .iter()
        .map(|t| vec![Value::from(*t), Value::Int(5)])
        .collect();
    let server = |code: u16, message: &str| Error::Server {
        node: "n".into(),
        code,
        state: "22001".into(),
        message: message.into(),
        kind: crate::core::failure::fault::Kind::Data,
    };
    let too_long = server(1406, "Data too long for column 'title' at row 2");
    let Error::Row {
        index, first, last, ..
    } = row_error(too_long, 10..13, &rows, Some(0))
    else {
        panic!()
    };
    assert_eq!((index, first, last), (Some(11), 10, 12));
    let dup = server(1062, "Duplicate entry 'T2' for key 'PRIMARY'");
    let e = row_error(dup, 10..13, &rows, Some(0));
    assert!(
        matches!(
            e,
            Error::Row {
                index: Some(12),
                ..
            }
        ),
        "{e:?}"
    );
    let unknown = server(1048, "Column 'title' cannot be null");
    let e = row_error(unknown, 10..13, &rows, Some(0));
    assert!(e.to_string().contains("one of rows 10 to 12"), "{e}");
    // One row: that row, whatever the message.
    let e = row_error(server(1048, "x"), 4..5, &rows[..1], Some(0));
    assert!(matches!(e, Error::Row { index: Some(4), .. }), "{e:?}");
    // Not the server refusing a row: the run's error, unchanged.
    assert!(matches!(
        row_error(Error::Interrupted, 0..3, &rows, None),
        Error::Interrupted
    ));
}

#[test]
fn columns_must_not_be_empty() {
    let b = Batch {
        table: "t",
        columns: &[],
        key: None,
        interval: Duration::ZERO,
        concurrency: 1,
        batch: 1,
    };
    assert!(b.validate().is_err());
}
