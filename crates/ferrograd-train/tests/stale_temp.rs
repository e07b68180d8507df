//! Issue 10: a writer killed (`kill -9`) while saving a checkpoint leaves its temporary file
//! next to the checkpoint. The next save or `check_writable` of that checkpoint removes such
//! files, and only those whose writer is gone: a live writer's temporary file (its pid alive,
//! or its lock held), other checkpoints' files and unrelated files are never touched.
#![cfg(unix)]

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferrograd_train::{checkpoint, EpochAccum, ModelSpec, Network, OptimizerConfig, ParamInfo};

/// Set in the child process that [`kill_9_mid_write_leaves_a_temp_file_the_next_run_removes`]
/// spawns (this test binary again): the path it saves checkpoints to, forever.
const CHILD_ENV: &str = "FERROGRAD_STALE_TEMP_CHILD";

/// A small MLP.
const SMALL: ModelSpec = ModelSpec::Mlp {
    in_features: 4,
    hidden: 4,
    classes: 2,
};

/// A checkpoint of an MLP `spec` (parameters from the network's initialisation).
fn checkpoint_of(spec: ModelSpec) -> (checkpoint::Checkpoint, Vec<ParamInfo>) {
    let net = Network::new(spec, 1, 1).expect("network");
    let infos = net.param_infos().to_vec();
    let n: usize = infos.iter().map(ParamInfo::len).sum();
    let ck = checkpoint::Checkpoint {
        run_id: "stale-temp-test".into(),
        spec,
        optimizer: OptimizerConfig::sgd(0.1, 0.0),
        lr_scale: 1.0,
        rollbacks: 0,
        params: (0..n).map(|i| (i % 97) as f32).collect(),
        state1: vec![0.0; n],
        state2: Vec::new(),
        opt_steps: 0,
        step: 0,
        epoch: 0,
        batch_in_epoch: 0,
        seed: 1,
        batch_size: 1,
        n_train: 1,
        accum: EpochAccum::default(),
        run_args: BTreeMap::new(),
    };
    (ck, infos)
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The pid of a process that has exited (and been reaped).
fn dead_pid() -> u32 {
    let mut c = Command::new("true").spawn().expect("spawn `true`");
    let pid = c.id();
    c.wait().unwrap();
    pid
}

/// A live process (`sleep`), killed when dropped.
struct Live(Child);

impl Drop for Live {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn live() -> Live {
    Live(
        Command::new("sleep")
            .arg("600")
            .spawn()
            .expect("spawn `sleep`"),
    )
}

#[test]
fn stale_temps_of_dead_writers_are_removed_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ck.safetensors");
    let (dead, alive) = (dead_pid(), live());
    let touch = |name: &str| std::fs::write(dir.path().join(name), b"partial").unwrap();

    let stale = format!(".ck.safetensors.{dead}.aB3xY9.tmp");
    let live_writer = format!(".ck.safetensors.{}.Qw7Er2.tmp", alive.0.id());
    let locked = format!(".ck.safetensors.{}.Lk4Zz1.tmp", dead_pid());
    let other_checkpoint = format!(".ck.safetensors.1.{dead}.aB3xY9.tmp");
    let other_name = format!(".other.safetensors.{dead}.aB3xY9.tmp");
    let old_format = ".ck.safetensors.aB3xY9.tmp".to_owned();
    for n in [
        &stale,
        &live_writer,
        &locked,
        &other_checkpoint,
        &other_name,
        &old_format,
    ] {
        touch(n);
    }
    // A writer whose pid this process cannot see (another pid namespace or host) still holds
    // its file's lock: the file stays.
    let held = File::open(dir.path().join(&locked)).unwrap();
    rustix::fs::flock(&held, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();

    checkpoint::check_writable(&path).unwrap();
    let left = names(dir.path());
    assert!(!left.contains(&stale), "stale temp file kept: {left:?}");
    for kept in [
        &live_writer,
        &locked,
        &other_checkpoint,
        &other_name,
        &old_format,
    ] {
        assert!(left.contains(kept), "{kept} removed: {left:?}");
    }

    // The lock released (its writer died), the file is stale too; `save` cleans up as well.
    drop(held);
    let (ck, infos) = checkpoint_of(SMALL);
    checkpoint::save(&path, &ck, &infos).unwrap();
    let left = names(dir.path());
    assert!(!left.contains(&locked), "{left:?}");
    assert!(left.contains(&live_writer), "{left:?}");
    assert_eq!(checkpoint::load(&path).unwrap(), ck);

    // This process's own temp files are never taken for stale ones.
    let own = format!(".ck.safetensors.{}.Zz9Yy8.tmp", std::process::id());
    touch(&own);
    checkpoint::save(&path, &ck, &infos).unwrap();
    assert!(names(dir.path()).contains(&own));
}

/// This test binary, run as a child that saves checkpoints to `path` until it is killed.
fn spawn_writer(path: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_saves_until_killed", "--nocapture"])
        .env(CHILD_ENV, path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn writer")
}

/// The temporary files of `path`'s checkpoint written by `pid`.
fn temps_of(dir: &Path, pid: u32) -> Vec<PathBuf> {
    let prefix = format!(".ck.safetensors.{pid}.");
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with(&prefix) && n.ends_with(".tmp")
        })
        .map(|e| e.path())
        .collect()
}

#[test]
fn kill_9_mid_write_leaves_a_temp_file_the_next_run_removes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ck.safetensors");
    // Most of a save is spent writing and syncing the temporary file, so a kill right after
    // one is seen almost always lands mid-write; retry the rare kill that lands after the
    // rename.
    let mut leftover = None;
    for _attempt in 0..20 {
        let mut child = spawn_writer(&path);
        let pid = child.id();
        let deadline = Instant::now() + Duration::from_secs(120);
        let seen = loop {
            if !temps_of(dir.path(), pid).is_empty() {
                break true;
            }
            if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
                break false;
            }
            std::thread::sleep(Duration::from_micros(200));
        };
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        assert!(seen, "the writer never created a temporary file");
        let temps = temps_of(dir.path(), pid);
        assert!(temps.len() <= 1, "{temps:?}");
        if let Some(t) = temps.into_iter().next() {
            leftover = Some(t);
            break;
        }
    }
    let leftover = leftover.expect("no kill landed mid-write in 20 attempts");

    // The next run of the same checkpoint removes it before writing.
    checkpoint::check_writable(&path).unwrap();
    assert!(!leftover.exists(), "{} kept", leftover.display());
    let (ck, infos) = checkpoint_of(SMALL);
    checkpoint::save(&path, &ck, &infos).unwrap();
    assert_eq!(names(dir.path()), ["ck.safetensors"]);
    assert_eq!(checkpoint::load(&path).unwrap(), ck);
}

/// Not a test of its own: the child process of
/// [`kill_9_mid_write_leaves_a_temp_file_the_next_run_removes`] (returns at once unless run
/// as that child). Saves a 32 MB checkpoint (4.2 M parameters and as many momenta) over and
/// over.
#[test]
fn child_saves_until_killed() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let (ck, infos) = checkpoint_of(ModelSpec::Mlp {
        in_features: 2048,
        hidden: 2048,
        classes: 2,
    });
    loop {
        checkpoint::save(Path::new(&path), &ck, &infos).unwrap();
    }
}
