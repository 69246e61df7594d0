//! A client of the echo service: a plain call, then a call that passes a
//! callback object which the service calls back (a nested call).
//! `echo-client [SOCKET]`

use capbinder::service_manager::ServiceManager;
use capbinder::ProcessState;
use capbinder_examples::{callback, echo, SERVICE_NAME};

fn main() -> capbinder::Result<()> {
    let socket = std::env::args_os().nth(1).map(std::path::PathBuf::from);
    ProcessState::init(socket.as_deref())?;
    let echo = echo(ServiceManager::get()?.get_service(SERVICE_NAME)?)?;
    println!("echo(\"hello\") = {:?}", echo.echo("hello")?);
    let cb = callback("callback saw: ");
    println!(
        "callMeBack(cb, \"nested\") = {:?}",
        echo.call_me_back(&cb, "nested")?
    );
    Ok(())
}
