//! Subscribes to the echo service's death, kills the service, and shows the
//! notification. `death-watcher [SOCKET]`

use std::sync::mpsc;
use std::sync::Arc;

use capbinder::service_manager::ServiceManager;
use capbinder::{DeathRecipient, ProcessState, WeakBinder};
use capbinder_examples::{echo, SERVICE_NAME};

struct Notify(mpsc::Sender<()>);

impl DeathRecipient for Notify {
    fn binder_died(&self, _who: &WeakBinder) {
        let _ = self.0.send(());
    }
}

fn main() -> capbinder::Result<()> {
    let socket = std::env::args_os().nth(1).map(std::path::PathBuf::from);
    let ps = ProcessState::init(socket.as_deref())?;
    // Death notices arrive on a pool thread.
    ps.start_thread_pool();
    let service = ServiceManager::get()?.get_service(SERVICE_NAME)?;
    let echo = echo(service.clone())?;
    let pid = echo.pid()?;
    let (tx, rx) = mpsc::channel();
    service.link_to_death(Arc::new(Notify(tx)))?;
    println!("death-watcher: watching {SERVICE_NAME} (pid {pid}); killing it");
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid).expect("a live pid"),
        rustix::process::Signal::KILL,
    )
    .map_err(|e| {
        capbinder::Status::from_code(capbinder::StatusCode::UnknownError, e.to_string())
    })?;
    rx.recv_timeout(std::time::Duration::from_secs(30))
        .map_err(|_| {
            capbinder::Status::from_code(capbinder::StatusCode::TimedOut, "no death notice")
        })?;
    println!("death-watcher: {SERVICE_NAME} died; the death recipient ran");
    match echo.echo("anyone?") {
        Err(e) => println!("death-watcher: a call now fails: {e}"),
        Ok(s) => println!("death-watcher: unexpected answer {s:?}"),
    }
    Ok(())
}
