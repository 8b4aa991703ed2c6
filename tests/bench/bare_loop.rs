//! The bare baseline of `make bench` (tests/bench): the course's insert loop written
//! directly on the `mysql` crate, with nothing of multimaster in it. One TCP connection,
//! autocommit, one prepared statement, one row per statement, the same statement and row as
//! the Python clients of the bench:
//!
//!     INSERT INTO <table> (title, instructor, duration, created, url) VALUES (?, ?, ?, ?, ?)
//!     ("<tag><x>", "Jeremy Cook", 100, "1999-03-30", "http://here.com")   for x in 0..rows
//!
//!     cargo build --release --example bare_loop
//!     target/release/examples/bare_loop HOST PORT USER PASSWORD DATABASE TABLE ROWS TAG
//!
//! The password may be given as `-` to read it from $MYSQL_PWD instead (so that it is not on
//! a command line). Prints one JSON line: {"rows": N, "elapsed": seconds, "rows_per_s": N/s},
//! timed from the first INSERT to the last reply (connect and prepare excluded, as for the
//! Python clients, whose connections are open before their loops start). Exits 1 with the
//! error on stderr if anything fails.

use std::process::ExitCode;
use std::time::Instant;

use mysql::prelude::Queryable;
use mysql::{Conn, OptsBuilder};

struct Args {
    host: String,
    port: u16,
    user: String,
    password: String,
    database: String,
    table: String,
    rows: u64,
    tag: String,
}

const USAGE: &str = "usage: bare_loop HOST PORT USER PASSWORD DATABASE TABLE ROWS TAG";

fn parse(args: &[String]) -> Result<Args, String> {
    let [host, port, user, password, database, table, rows, tag] = args else {
        return Err(USAGE.to_string());
    };
    let password = if password == "-" {
        std::env::var("MYSQL_PWD").map_err(|_| "password `-` but $MYSQL_PWD is not set")?
    } else {
        password.clone()
    };
    let table_ok = !table.is_empty()
        && table
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if !table_ok {
        return Err(format!(
            "table {table:?}: letters, digits, `_` and `.` only"
        ));
    }
    Ok(Args {
        host: host.clone(),
        port: port
            .parse()
            .map_err(|_| format!("port {port:?}: not a port"))?,
        user: user.clone(),
        password,
        database: database.clone(),
        table: table.clone(),
        rows: rows
            .parse()
            .map_err(|_| format!("rows {rows:?}: not a count"))?,
        tag: tag.clone(),
    })
}

fn run(args: &Args) -> mysql::Result<f64> {
    let opts = OptsBuilder::new()
        .ip_or_hostname(Some(args.host.as_str()))
        .tcp_port(args.port)
        .user(Some(args.user.as_str()))
        .pass(Some(args.password.as_str()))
        .db_name(Some(args.database.as_str()))
        // TCP to the node's address, as every other client of the bench (the driver would
        // otherwise switch to the Unix socket of a loopback server).
        .prefer_socket(false)
        .tcp_nodelay(true);
    let mut conn = Conn::new(opts)?;
    conn.query_drop("SET autocommit = 1")?;
    let stmt = conn.prep(format!(
        "INSERT INTO {} (title, instructor, duration, created, url) VALUES (?, ?, ?, ?, ?)",
        args.table
    ))?;
    let started = Instant::now();
    for x in 0..args.rows {
        conn.exec_drop(
            &stmt,
            (
                format!("{}{x}", args.tag),
                "Jeremy Cook",
                100,
                "1999-03-30",
                "http://here.com",
            ),
        )?;
    }
    Ok(started.elapsed().as_secs_f64())
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&argv) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("bare_loop: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(elapsed) => {
            let rate = if elapsed > 0.0 {
                args.rows as f64 / elapsed
            } else {
                0.0
            };
            println!(
                "{{\"rows\": {}, \"elapsed\": {elapsed:.6}, \"rows_per_s\": {rate:.1}}}",
                args.rows
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bare_loop: {e}");
            ExitCode::FAILURE
        }
    }
}
