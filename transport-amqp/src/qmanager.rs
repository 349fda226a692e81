//! oslo's queue manager (`use_queue_manager`, `amqpdriver.QManager`): stable reply and fanout
//! queue names per service, so a restarted service finds its queues again instead of leaving
//! randomly named ones behind to expire.
//!
//! A name is `<hostname>:<processname>:<n>` (`reply_<name>`, `<topic>_fanout_<name>`), `n` a
//! counter kept in `/dev/shm/<hostname>_<processname>_qmanager` as `<pgrp>:<n>:<start time>`:
//! the process group of the service and the start time (in clock ticks since boot, field 22 of
//! `/proc/<pgrp>/stat`) of that group's leader. Each name taken in the same generation of the
//! service (the same group, a master and its workers) increments `n`; a new generation (a
//! restart) starts over at 1, so it takes the same names in the same order as the last one.
//! `hostname` defaults to the host's name, `processname` to the program's file name, as in
//! oslo. The file is locked (`flock`) while it is read and written, so processes of one service
//! never take the same number. (oslo locks a file of its own, under `oslo_concurrency`'s
//! `lock_path`; a Python and a courier process never share a counter unless they share a
//! `processname`, which would make their queue names collide anyway.)
//!
//! Linux only, as oslo's: it needs `/dev/shm` and `/proc`. Names are taken when a transport is
//! built (its reply queue) and when a server starts listening (its fanout queue): a few
//! microseconds of file I/O under a lock that every holder keeps as briefly.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use courier_runtime::error::TransportError;
use rustix::fs::{FlockOperation, flock};

use crate::options::RabbitOptions;

/// Where oslo keeps its counters.
const SHM: &str = "/dev/shm";

/// One generation of a service: its process group and that group's start time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Generation {
    pgrp: i64,
    start_time: u64,
}

/// Hands out the `<hostname>:<processname>:<n>` names of one service.
#[derive(Debug)]
pub(crate) struct QueueManager {
    hostname: String,
    processname: String,
    file: PathBuf,
}

impl QueueManager {
    /// The queue manager of `options` (`hostname`, `processname`), counting in `/dev/shm`.
    pub(crate) fn new(options: &RabbitOptions) -> Self {
        Self::in_dir(options, Path::new(SHM))
    }

    fn in_dir(options: &RabbitOptions, dir: &Path) -> Self {
        let hostname = options.hostname.clone().unwrap_or_else(system_hostname);
        let processname = options.processname.clone().unwrap_or_else(program_name);
        let file = dir.join(format!("{hostname}_{processname}_qmanager"));
        Self { hostname, processname, file }
    }

    /// The next name: `<hostname>:<processname>:<n>`.
    ///
    /// # Errors
    /// [`TransportError::InvalidUrl`] (a configuration problem) when the counter file or
    /// `/proc` cannot be read or written.
    pub(crate) fn next(&self) -> Result<String, TransportError> {
        let generation = current_generation().map_err(|error| {
            TransportError::InvalidUrl(format!(
                "use_queue_manager needs the process group's start time from /proc: {error}"
            ))
        })?;
        let counter = self.take(generation).map_err(|error| {
            TransportError::InvalidUrl(format!(
                "use_queue_manager cannot update its counter `{}`: {error}",
                self.file.display()
            ))
        })?;
        Ok(format!("{}:{}:{counter}", self.hostname, self.processname))
    }

    /// Reads, increments (or restarts) and writes the counter under an exclusive lock.
    fn take(&self, generation: Generation) -> std::io::Result<u64> {
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&self.file)?;
        flock(&file, FlockOperation::LockExclusive)?;
        let mut contents = String::new();
        file.read_to_string(&mut contents)?;
        let (counter, written) = next_counter(&contents, generation);
        rewrite(&mut file, &written)?;
        // Dropping the file releases the lock.
        Ok(counter)
    }
}

fn rewrite(file: &mut File, contents: &str) -> std::io::Result<()> {
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(contents.as_bytes())
}

/// oslo's rule: the stored counter plus one in the same generation, else 1; and what to store.
fn next_counter(stored: &str, current: Generation) -> (u64, String) {
    let parsed = || -> Option<(i64, u64, u64)> {
        let mut parts = stored.lines().next()?.split(':');
        let fields = (
            parts.next()?.trim().parse().ok()?,
            parts.next()?.trim().parse().ok()?,
            parts.next()?.trim().parse().ok()?,
        );
        parts.next().is_none().then_some(fields)
    };
    let counter = match parsed() {
        Some((pgrp, counter, start_time)) if pgrp == current.pgrp && start_time == current.start_time => {
            counter + 1
        }
        _ => 1,
    };
    (counter, format!("{}:{counter}:{}", current.pgrp, current.start_time))
}

/// This process's group and the start time of the group's leader (this process itself when
/// the group is 0, as oslo does for processes some container runtimes start without one).
/// When the leader has exited (a service started from a shell or a harness that went away),
/// oslo fails to start; courier takes its own start time instead, so the names still restart
/// with the process.
fn current_generation() -> std::io::Result<Generation> {
    let unreadable = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("no {what}"));
    let own = std::fs::read_to_string("/proc/self/stat")?;
    let pgrp: i64 = stat_field(&own, 5).ok_or_else(|| unreadable("process group in /proc/self/stat"))?;
    let leader = if pgrp == 0 { std::process::id().to_string() } else { pgrp.to_string() };
    let (leader, stat) = match std::fs::read_to_string(format!("/proc/{leader}/stat")) {
        Ok(stat) => (leader, stat),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => ("self".to_owned(), own),
        Err(error) => return Err(error),
    };
    let start_time =
        stat_field(&stat, 22).ok_or_else(|| unreadable(&format!("start time in /proc/{leader}/stat")))?;
    Ok(Generation { pgrp, start_time })
}

/// Field `n` (1-based, as `proc_pid_stat(5)` numbers them; `n` ≥ 3) of `/proc/<pid>/stat`,
/// counted after the command name (field 2), which is in parentheses and may hold spaces.
fn stat_field<T: std::str::FromStr>(stat: &str, n: usize) -> Option<T> {
    let after_command = &stat[stat.rfind(')')? + 1..];
    after_command.split_whitespace().nth(n.checked_sub(3)?)?.parse().ok()
}

/// `socket.gethostname()`.
fn system_hostname() -> String {
    rustix::system::uname().nodename().to_string_lossy().into_owned()
}

/// `os.path.basename(sys.argv[0])`.
fn program_name() -> String {
    std::env::args()
        .next()
        .and_then(|argv0| Path::new(&argv0).file_name().map(|name| name.to_string_lossy().into_owned()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Generation = Generation { pgrp: 4242, start_time: 987_654 };

    #[test]
    fn the_counter_grows_within_a_generation_and_restarts_with_a_new_one() {
        assert_eq!(next_counter("", NOW), (1, "4242:1:987654".to_owned()));
        assert_eq!(next_counter("4242:1:987654", NOW), (2, "4242:2:987654".to_owned()));
        assert_eq!(next_counter("4242:41:987654\n", NOW).0, 42);
        // Another process group, or a recycled group id with another start time: a restart.
        assert_eq!(next_counter("4241:7:987654", NOW), (1, "4242:1:987654".to_owned()));
        assert_eq!(next_counter("4242:7:111", NOW).0, 1);
        // What cannot be read starts over, as oslo's ValueError does.
        for garbage in ["x", "4242:7", "4242:seven:987654", "4242:7:987654:1"] {
            assert_eq!(next_counter(garbage, NOW).0, 1, "{garbage}");
        }
    }

    #[test]
    fn stat_fields_are_counted_after_the_command_even_with_spaces_in_it() {
        let stat = "1234 (my (odd) prog) S 1 1230 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 55501 \
                    1000 10 18446744073709551615";
        assert_eq!(stat_field(stat, 22), Some(55_501_u64));
        assert_eq!(stat_field(stat, 5), Some(1230_i64));
        assert_eq!(stat_field::<u64>("1 (init) S 0", 22), None);
        let own = current_generation().unwrap();
        assert!(own.pgrp > 0 && own.start_time > 0, "{own:?}");
    }

    #[test]
    fn names_count_up_in_this_process_and_restart_after_a_new_generation() {
        let dir = tempfile::tempdir().unwrap();
        let options = RabbitOptions {
            hostname: Some("node1.example.com".into()),
            processname: Some("nova-api".into()),
            ..RabbitOptions::default()
        };
        let manager = QueueManager::in_dir(&options, dir.path());
        assert_eq!(manager.file, dir.path().join("node1.example.com_nova-api_qmanager"));
        assert_eq!(manager.next().unwrap(), "node1.example.com:nova-api:1");
        assert_eq!(manager.next().unwrap(), "node1.example.com:nova-api:2");
        // Another manager of the same service shares the counter.
        assert_eq!(
            QueueManager::in_dir(&options, dir.path()).next().unwrap(),
            "node1.example.com:nova-api:3"
        );
        // The previous generation's file: the next name is the first again.
        std::fs::write(&manager.file, "1:9:1").unwrap();
        assert_eq!(manager.next().unwrap(), "node1.example.com:nova-api:1");

        let defaults = QueueManager::in_dir(&RabbitOptions::default(), dir.path());
        assert_eq!(defaults.hostname, system_hostname());
        assert!(!defaults.hostname.is_empty() && !defaults.processname.is_empty());
    }
}
