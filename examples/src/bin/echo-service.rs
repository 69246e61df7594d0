//! The echo service: registers `example.echo` and serves until killed.
//! `echo-service [SOCKET]`

use capbinder::service_manager::ServiceManager;
use capbinder::ProcessState;
use capbinder_examples::{BnEcho, EchoService, SERVICE_NAME};

fn main() -> capbinder::Result<()> {
    let socket = std::env::args_os().nth(1).map(std::path::PathBuf::from);
    let ps = ProcessState::init(socket.as_deref())?;
    let sm = ServiceManager::get()?;
    sm.add_service(SERVICE_NAME, &BnEcho::new_binder(EchoService))?;
    println!(
        "echo-service: registered {SERVICE_NAME} (pid {})",
        std::process::id()
    );
    ps.join_thread_pool()
}
