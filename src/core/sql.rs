//! Building the few statements the library writes itself, with identifiers quoted.

/// `name` as a MySQL identifier: backticks, with any backtick inside doubled.
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A table name, optionally `schema.table`.
pub fn quote_table(name: &str) -> String {
    match name.split_once('.') {
        Some((schema, table)) => format!("{}.{}", quote_ident(schema), quote_ident(table)),
        None => quote_ident(name),
    }
}

/// `INSERT INTO table (a, b) VALUES (?, ?)` for one row.
pub fn insert_row(table: &str, columns: &[String]) -> String {
    insert_rows(table, columns, 1)
}

/// `INSERT INTO table (a, b) VALUES (?, ?), (?, ?), ...` for `rows` rows.
pub fn insert_rows(table: &str, columns: &[String], rows: usize) -> String {
    let cols: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    let one = format!("({})", vec!["?"; columns.len()].join(", "));
    format!(
        "INSERT INTO {} ({}) VALUES {}",
        quote_table(table),
        cols.join(", "),
        vec![one; rows.max(1)].join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_row_inserts() {
        let cols = ["a".to_string(), "b".to_string()];
        assert_eq!(
            insert_rows("t", &cols, 2),
            "INSERT INTO `t` (`a`, `b`) VALUES (?, ?), (?, ?)"
        );
        assert_eq!(insert_row("t", &cols), insert_rows("t", &cols, 1));
    }

    #[test]
    fn quotes_identifiers() {
        assert_eq!(quote_ident("title"), "`title`");
        assert_eq!(quote_ident("we`ird"), "`we``ird`");
        assert_eq!(quote_table("demo.course"), "`demo`.`course`");
        assert_eq!(quote_table("course"), "`course`");
    }

    #[test]
    fn insert_statement() {
        let cols = ["title".to_string(), "duration".to_string()];
        assert_eq!(
            insert_row("course", &cols),
            "INSERT INTO `course` (`title`, `duration`) VALUES (?, ?)"
        );
    }
}
