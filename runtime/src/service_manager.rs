//! The service manager: the process that holds handle 0 and maps names to
//! objects, with a policy that says who may add, find or list which names.
//! It runs as its own process (`capbinder-servicemanager`), as on Android:
//! the mediator stays policy-free and small, and a restarted service
//! manager is just another process claiming handle 0.
//!
//! This module has both sides: [`ServiceManager`] (the client every process
//! uses through handle 0) and [`ServiceManagerService`] (the implementation).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use serde::Deserialize;

use crate::binder::{new_binder, Binder, DeathRecipient, SpIBinder, WeakBinder};
use crate::identity::calling_identity;
use crate::parcel::Parcel;
use crate::process::ProcessState;
use crate::sandbox::UidRange;
use crate::status::{ExceptionCode, Result, Status, StatusCode};

/// The service manager's interface descriptor.
pub const DESCRIPTOR: &str = "capbinder.IServiceManager";
/// The registration callback's interface descriptor.
pub const CALLBACK_DESCRIPTOR: &str = "capbinder.IServiceCallback";

/// Method codes of `capbinder.IServiceManager`.
pub mod codes {
    /// `addService(name, binder)`.
    pub const ADD: u32 = 1;
    /// `checkService(name) -> binder?` (never waits).
    pub const CHECK: u32 = 2;
    /// `listServices() -> names`.
    pub const LIST: u32 = 3;
    /// `registerForNotifications(name, callback)`.
    pub const REGISTER: u32 = 4;
    /// `unregisterForNotifications(name, callback)`.
    pub const UNREGISTER: u32 = 5;
    /// `registerApp(uid, name, services)`: a sandboxed app's manifest
    /// (privileged: callers with euid 0 only).
    pub const REGISTER_APP: u32 = 6;
    /// `IServiceCallback.onRegistration(name, binder)`, oneway.
    pub const ON_REGISTRATION: u32 = 1;
}

// ---- policy ----------------------------------------------------------------

/// What a policy rule governs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Registering a name.
    Add,
    /// Looking a name up (check, get, wait-for, notifications).
    Find,
    /// Listing names.
    List,
}

/// One rule: `effect` for callers matching `uids`/`labels` doing one of
/// `actions` on a name matching one of `services` (`*` wildcards).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Named in denials, so the person reading the error finds the rule.
    pub name: String,
    /// "allow" (default) or "deny".
    #[serde(default = "allow")]
    pub effect: String,
    /// The actions it covers.
    pub actions: Vec<Action>,
    /// Name patterns (`*` matches any run of characters).
    #[serde(default = "any")]
    pub services: Vec<String>,
    /// Caller uids; empty means any. `"self"` is not needed: the manager's
    /// own uid is added by the default policy.
    #[serde(default)]
    pub uids: Vec<u32>,
    /// Caller labels (sandboxed app names); empty means any.
    #[serde(default)]
    pub labels: Vec<String>,
}

fn allow() -> String {
    "allow".into()
}
fn any() -> Vec<String> {
    vec!["*".into()]
}

/// The service manager's policy: rules tried in order, first match wins,
/// no match denies.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// The rules.
    #[serde(rename = "rule", default)]
    pub rules: Vec<Rule>,
}

fn glob(pat: &str, s: &str) -> bool {
    match pat.split_once('*') {
        None => pat == s,
        Some((head, rest)) => {
            let Some(tail) = s.strip_prefix(head) else {
                return false;
            };
            (0..=tail.len()).any(|i| tail.is_char_boundary(i) && glob(rest, &tail[i..]))
        }
    }
}

impl Policy {
    /// The shipped default: root and the manager's own uid may add; everyone
    /// may find and list.
    pub fn default_for(own_uid: u32) -> Policy {
        let mut uids = vec![0];
        if own_uid != 0 {
            uids.push(own_uid);
        }
        Policy {
            rules: vec![
                Rule {
                    name: "default: root and the service manager's uid may add".into(),
                    effect: allow(),
                    actions: vec![Action::Add],
                    services: any(),
                    uids,
                    labels: vec![],
                },
                Rule {
                    name: "default: everyone may find and list".into(),
                    effect: allow(),
                    actions: vec![Action::Find, Action::List],
                    services: any(),
                    uids: vec![],
                    labels: vec![],
                },
            ],
        }
    }

    /// Parses a TOML policy; errors name the problem.
    pub fn from_toml(text: &str) -> std::result::Result<Policy, String> {
        let p: Policy = toml::from_str(text).map_err(|e| format!("policy: {e}"))?;
        for r in &p.rules {
            if r.effect != "allow" && r.effect != "deny" {
                return Err(format!(
                    "policy: rule {:?}: effect = {:?}; use \"allow\" or \"deny\"",
                    r.name, r.effect
                ));
            }
        }
        Ok(p)
    }

    /// Checks one request; a denial names the rule (or says none matched).
    pub fn check(&self, action: Action, name: &str, uid: u32, label: Option<&str>) -> Result<()> {
        for r in &self.rules {
            let hit = r.actions.contains(&action)
                && r.services.iter().any(|p| glob(p, name))
                && (r.uids.is_empty() || r.uids.contains(&uid))
                && (r.labels.is_empty() || label.is_some_and(|l| r.labels.iter().any(|x| x == l)));
            if hit {
                if r.effect == "deny" {
                    return Err(Status::exception(
                        ExceptionCode::Security,
                        format!(
                            "{action:?} {name:?} by uid {uid} denied by rule {:?}",
                            r.name
                        ),
                    ));
                }
                return Ok(());
            }
        }
        Err(Status::exception(
            ExceptionCode::Security,
            format!(
                "{action:?} {name:?} by uid {uid}{}: no policy rule allows it",
                label.map(|l| format!(" (label {l})")).unwrap_or_default()
            ),
        ))
    }
}

// ---- sandboxed apps --------------------------------------------------------

/// A sandboxed app's manifest as the service manager applies it: the
/// launcher registers it (`registerApp`) before the app starts, and from
/// then on every request from `uid` must pass it before the policy is
/// consulted (with the app's name as the caller's label). An app may find
/// only the services its manifest lists, may list (the list shows only
/// those), and may never add.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppRule {
    /// The app's uid (one per app name).
    pub uid: u32,
    /// The app's name: its label in policies.
    pub name: String,
    /// The service names (or `*` patterns) the manifest lets it find.
    pub services: Vec<String>,
}

impl AppRule {
    /// Checks one request against the manifest; a denial says which app
    /// and what its manifest allows.
    pub fn check(&self, action: Action, name: &str) -> Result<()> {
        let deny = |what: String| {
            Err(Status::exception(
                ExceptionCode::Security,
                format!(
                    "{what} by app {:?} (uid {}) denied: its manifest lets it find only {:?}",
                    self.name, self.uid, self.services
                ),
            ))
        };
        match action {
            Action::List => Ok(()),
            Action::Add => deny(format!("add {name:?}")),
            Action::Find if self.services.iter().any(|p| glob(p, name)) => Ok(()),
            Action::Find => deny(format!("find {name:?}")),
        }
    }
}

// ---- the service -----------------------------------------------------------

struct Entry {
    binder: SpIBinder,
    /// What the registration granted: everyone who finds the service
    /// gets at most these, whatever the service manager's own handle to
    /// the object holds (rights merge per object, so another holder
    /// sending it here could have widened that).
    rights: capbinder_core::Rights,
}

#[derive(Default)]
struct Registry {
    services: BTreeMap<String, Entry>,
    callbacks: HashMap<String, Vec<Callback>>,
}

/// A registration callback and the uid that registered it.
struct Callback {
    binder: SpIBinder,
    uid: u32,
}

/// The most registration callbacks one uid may hold. Each is a reference
/// the service manager holds: without a bound, one client filled its
/// handle table (`max_refs`), and every `addService` then failed for
/// every caller, after the flooder too.
pub const MAX_CALLBACKS_PER_UID: usize = 1024;

/// Drops the registration callbacks of a process that died.
struct DropCallbacks {
    registry: Arc<Mutex<Registry>>,
}

impl DeathRecipient for DropCallbacks {
    fn binder_died(&self, who: &WeakBinder) {
        let Some(dead) = who.upgrade() else { return };
        let mut r = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        r.callbacks.retain(|_, list| {
            list.retain(|c| c.binder != dead);
            !list.is_empty()
        });
    }
}

/// The service manager's implementation (what `capbinder-servicemanager`
/// runs).
pub struct ServiceManagerService {
    policy: Policy,
    registry: Arc<Mutex<Registry>>,
    /// Sandboxed apps by uid, as the launcher registered them.
    apps: Mutex<HashMap<u32, AppRule>>,
    /// The uids the sandbox gives apps, less those in `system_uids`: a
    /// caller with one of these that is not registered is denied
    /// everything (see `check`).
    app_uids: Option<UidRange>,
    /// The uids `/etc/passwd` names (which the launcher never gives out),
    /// read once.
    system_uids: HashSet<u32>,
}

/// Removes a service whose process died, so a restart can register again.
struct Unregister {
    registry: Arc<Mutex<Registry>>,
    name: String,
}

impl DeathRecipient for Unregister {
    fn binder_died(&self, who: &WeakBinder) {
        let mut r = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        let same = r
            .services
            .get(&self.name)
            .is_some_and(|e| Some(&e.binder) == who.upgrade().as_ref());
        if same {
            r.services.remove(&self.name);
        }
    }
}

impl ServiceManagerService {
    /// A service manager with this policy.
    pub fn new(policy: Policy) -> ServiceManagerService {
        ServiceManagerService {
            policy,
            registry: Arc::default(),
            apps: Mutex::default(),
            app_uids: Some(UidRange::default()),
            system_uids: crate::sandbox::uids::system_uids(),
        }
    }

    /// The uids sandboxed apps get (the launcher's range; by default
    /// `10000-19999`), or `None` when this service manager serves no
    /// sandbox.
    pub fn with_app_uids(mut self, range: Option<UidRange>) -> ServiceManagerService {
        self.app_uids = range;
        self
    }

    fn caller(&self) -> (u32, Option<String>) {
        calling_identity()
            .map(|c| (c.euid, c.label))
            .unwrap_or((0, None))
    }

    /// The sandboxed app with this uid, if the launcher registered one.
    fn app(&self, uid: u32) -> Option<AppRule> {
        self.apps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&uid)
            .cloned()
    }

    /// The app's manifest first (for a registered app), then the policy.
    fn check(
        &self,
        app: Option<&AppRule>,
        action: Action,
        name: &str,
        uid: u32,
        label: Option<&str>,
    ) -> Result<()> {
        if let Some(a) = app {
            a.check(action, name)?;
        } else if let Some(range) = &self.app_uids {
            // Fail closed: an app whose registration this service manager
            // does not have (it restarted since the app was launched) would
            // otherwise meet only the policy, which usually lets anyone
            // find anything, far more than its manifest.
            if (range.first..=range.last).contains(&uid) && !self.system_uids.contains(&uid) {
                return Err(Status::exception(
                    ExceptionCode::Security,
                    format!(
                        "{action:?} {name:?} by uid {uid} denied: the uid is a sandboxed app's ({}-{}) and no app is registered for it here (the service manager may have restarted since the app was launched)",
                        range.first, range.last
                    ),
                ));
            }
        }
        self.policy.check(action, name, uid, label)
    }
}

impl Binder for ServiceManagerService {
    fn descriptor(&self) -> &str {
        DESCRIPTOR
    }

    fn on_transact(&self, code: u32, data: &mut Parcel, reply: &mut Parcel) -> Result<()> {
        let (uid, label) = self.caller();
        // Without a labelling LSM the mediator has no label for an app:
        // its name, from the launcher's registration, is its label.
        let app = self.app(uid);
        let label = label.or_else(|| app.as_ref().map(|a| a.name.clone()));
        let label = label.as_deref();
        let app = app.as_ref();
        match code {
            codes::ADD => {
                let name: String = data.read()?;
                let (binder, passed) = data.read_binder_with_rights()?;
                // A service's own object arrives with every right (an
                // object carries none on the wire), so the narrowing its
                // registration asks for follows it (`add_service_with_rights`).
                let asked = if data.remaining() > 0 {
                    capbinder_core::Rights(data.read::<u8>()?)
                } else {
                    capbinder_core::Rights::ALL
                };
                let rights = passed.intersect(asked);
                check_name(&name)?;
                self.check(app, Action::Add, &name, uid, label)?;
                // Registered before the death link is made: for an object
                // already dead, the mediator fires the link at once, and
                // its recipient must find the entry to remove it.
                let (previous, callbacks) = {
                    let mut r = self.registry.lock().unwrap_or_else(|e| e.into_inner());
                    let previous = r.services.insert(
                        name.clone(),
                        Entry {
                            binder: binder.clone(),
                            rights,
                        },
                    );
                    (
                        previous,
                        r.callbacks
                            .get(&name)
                            .map(|l| l.iter().map(|c| c.binder.clone()).collect::<Vec<_>>())
                            .unwrap_or_default(),
                    )
                };
                // A local object is the service manager's own (binder's
                // servicemanager registers itself as "manager", and
                // binderLibTest's AddManagerToManager adds it again): it
                // cannot die while this process serves, so there is no
                // death to link to. A service whose death cannot be
                // watched (already seen dead here) is refused, as AOSP's
                // servicemanager refuses it: its entry would never go.
                if !binder.is_local() {
                    let linked = binder.link_to_death(Arc::new(Unregister {
                        registry: self.registry.clone(),
                        name: name.clone(),
                    }));
                    if let Err(e) = linked {
                        let mut r = self.registry.lock().unwrap_or_else(|e| e.into_inner());
                        // Back to what was registered before, if nothing
                        // changed it meanwhile.
                        if r.services.get(&name).is_some_and(|e| e.binder == binder) {
                            match previous {
                                Some(p) => r.services.insert(name.clone(), p),
                                None => r.services.remove(&name),
                            };
                        }
                        return Err(Status::exception(
                            ExceptionCode::IllegalState,
                            format!("adding {name:?}: linkToDeath failure: {e}"),
                        ));
                    }
                }
                for cb in callbacks {
                    notify(&cb, &name, &binder, rights);
                }
                Ok(())
            }
            codes::CHECK => {
                let name: String = data.read()?;
                if invalid_service_name(&name).is_some() {
                    // Never registered, and not matched against patterns:
                    // a name of any length would make that slow.
                    return reply.write_nullable_binder(None);
                }
                self.check(app, Action::Find, &name, uid, label)?;
                let r = self.registry.lock().unwrap_or_else(|e| e.into_inner());
                match r.services.get(&name) {
                    Some(e) => reply.write_binder_with_rights(&e.binder, e.rights),
                    None => reply.write_nullable_binder(None),
                }
            }
            codes::LIST => {
                self.check(app, Action::List, "*", uid, label)?;
                let r = self.registry.lock().unwrap_or_else(|e| e.into_inner());
                let names: Vec<&String> = r
                    .services
                    .keys()
                    .filter(|n| self.check(app, Action::Find, n, uid, label).is_ok())
                    .collect();
                reply.write(&names)
            }
            codes::REGISTER => {
                let name: String = data.read()?;
                let cb = data.read_binder()?;
                check_name(&name)?;
                self.check(app, Action::Find, &name, uid, label)?;
                let now = {
                    let mut r = self.registry.lock().unwrap_or_else(|e| e.into_inner());
                    let held = r
                        .callbacks
                        .values()
                        .flatten()
                        .filter(|c| c.uid == uid)
                        .count();
                    if held >= MAX_CALLBACKS_PER_UID {
                        return Err(Status::exception(
                            ExceptionCode::IllegalState,
                            format!("uid {uid} holds {held} registration callbacks, the most one uid may"),
                        ));
                    }
                    r.callbacks.entry(name.clone()).or_default().push(Callback {
                        binder: cb.clone(),
                        uid,
                    });
                    r.services.get(&name).map(|e| (e.binder.clone(), e.rights))
                };
                // A callback whose process dies goes (AOSP's servicemanager
                // links each callback to death too).
                if !cb.is_local() {
                    let _ = cb.link_to_death(Arc::new(DropCallbacks {
                        registry: self.registry.clone(),
                    }));
                }
                if let Some((b, rights)) = now {
                    notify(&cb, &name, &b, rights);
                }
                Ok(())
            }
            codes::UNREGISTER => {
                let name: String = data.read()?;
                let cb = data.read_binder()?;
                check_name(&name)?;
                // As AOSP's servicemanager: the caller must be allowed to
                // find the name, and a callback that is not registered for
                // it is an illegal state (`EX_ILLEGAL_STATE`).
                self.check(app, Action::Find, &name, uid, label)?;
                let mut r = self.registry.lock().unwrap_or_else(|e| e.into_inner());
                let found = match r.callbacks.get_mut(&name) {
                    Some(list) => {
                        let before = list.len();
                        list.retain(|x| x.binder != cb);
                        let found = list.len() < before;
                        if list.is_empty() {
                            r.callbacks.remove(&name);
                        }
                        found
                    }
                    None => false,
                };
                if !found {
                    return Err(Status::exception(
                        ExceptionCode::IllegalState,
                        format!(
                            "nothing to unregister: that callback is not registered for {name:?}"
                        ),
                    ));
                }
                Ok(())
            }
            codes::REGISTER_APP => {
                if uid != 0 {
                    return Err(Status::exception(
                        ExceptionCode::Security,
                        format!("registerApp by uid {uid} denied: only root (the sandbox launcher) may register apps"),
                    ));
                }
                let rule = AppRule {
                    uid: data.read()?,
                    name: data.read()?,
                    services: data.read()?,
                };
                if rule.uid == 0 || rule.name.is_empty() || rule.name.len() > 256 {
                    return Err(Status::exception(
                        ExceptionCode::IllegalArgument,
                        format!(
                            "registerApp({}, {:?}): an app has a uid other than 0 and a name of 1 to 256 bytes",
                            rule.uid, rule.name
                        ),
                    ));
                }
                self.apps
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(rule.uid, rule);
                Ok(())
            }
            _ => Err(Status::from_code(
                StatusCode::UnknownTransaction,
                format!("{DESCRIPTOR} has no method with code {code}"),
            )),
        }
    }

    fn dump(&self, out: &mut dyn std::io::Write, _args: &[String]) -> Result<()> {
        let r = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        for name in r.services.keys() {
            let _ = writeln!(out, "{name}");
        }
        Ok(())
    }
}

/// Why `name` is not a service name by AOSP servicemanager's
/// `isValidServiceName` (1 to 127 bytes of `[A-Za-z0-9_./-]`), if it is
/// not.
pub fn invalid_service_name(name: &str) -> Option<String> {
    let bad = name
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || "_-./".contains(c)));
    if name.is_empty() || name.len() > MAX_NAME {
        Some(format!("{} bytes; a name has 1 to {MAX_NAME}", name.len()))
    } else {
        bad.map(|c| format!("{c:?} is not an ASCII letter, digit, `_`, `-`, `.` or `/`"))
    }
}

/// What `addService` and `registerForNotifications` refuse with
/// `IllegalArgument`, as AOSP's do, so that a name works the same on both.
fn check_name(name: &str) -> Result<()> {
    match invalid_service_name(name) {
        None => Ok(()),
        Some(why) => Err(Status::exception(
            ExceptionCode::IllegalArgument,
            format!("invalid service name {name:?}: {why}"),
        )),
    }
}

/// The longest service name, in bytes (AOSP's servicemanager).
pub const MAX_NAME: usize = 127;

fn notify(cb: &SpIBinder, name: &str, b: &SpIBinder, rights: capbinder_core::Rights) {
    let mut p = Parcel::new();
    if p.write(name)
        .and_then(|()| p.write_binder_with_rights(b, rights))
        .is_ok()
    {
        let _ = cb.transact(codes::ON_REGISTRATION, p, true);
    }
}

// ---- the client ------------------------------------------------------------

/// The client side: calls the service manager behind handle 0.
#[derive(Clone, Debug)]
pub struct ServiceManager {
    sm: SpIBinder,
}

impl ServiceManager {
    /// The service manager of this process's context.
    pub fn get() -> Result<ServiceManager> {
        Ok(ServiceManager {
            sm: ProcessState::get()?.context_manager(),
        })
    }

    /// Registers `binder` under `name`.
    pub fn add_service(&self, name: &str, binder: &SpIBinder) -> Result<()> {
        self.add_service_with_rights(name, binder, capbinder_core::Rights::ALL)
    }

    /// Registers `binder` under `name`, narrowed to `rights`: everyone who
    /// finds it gets at most those (a topic registered subscribe-only, or
    /// a call-only capability).
    pub fn add_service_with_rights(
        &self,
        name: &str,
        binder: &SpIBinder,
        rights: capbinder_core::Rights,
    ) -> Result<()> {
        let mut p = Parcel::new();
        p.write(name)?;
        p.write_binder_with_rights(binder, rights)?;
        // Again as a field: a local object carries no rights on the wire.
        p.write(&rights.0)?;
        self.sm.transact(codes::ADD, p, false).map(|_| ())
    }

    /// The service registered as `name`, if any, without waiting.
    pub fn check_service(&self, name: &str) -> Result<Option<SpIBinder>> {
        let mut p = Parcel::new();
        p.write(name)?;
        self.sm
            .transact(codes::CHECK, p, false)?
            .read_nullable_binder()
    }

    /// The service `name`, waiting up to five seconds for it to appear (as
    /// Android's `getService` does); `NameNotFound` after that.
    pub fn get_service(&self, name: &str) -> Result<SpIBinder> {
        self.wait_for_service_timeout(name, Some(Duration::from_secs(5)))
    }

    /// The service `name`, waiting as long as it takes.
    pub fn wait_for_service(&self, name: &str) -> Result<SpIBinder> {
        self.wait_for_service_timeout(name, None)
    }

    /// The service `name`, waiting at most `timeout` (`None`: forever).
    /// An object this process already heard die is never returned: the
    /// wait goes on until a live one is registered (a restarted service).
    /// Needs the thread pool: the notification arrives on a pool thread.
    pub fn wait_for_service_timeout(
        &self,
        name: &str,
        timeout: Option<Duration>,
    ) -> Result<SpIBinder> {
        // An object this process already saw die is not an answer: the
        // service manager may not have processed that death yet, and a
        // restarted service registers a new object.
        if let Some(b) = self.check_service(name)?.filter(|b| !b.death_seen()) {
            return Ok(b);
        }
        ProcessState::get()?.start_thread_pool();
        let waiter = Arc::new((Mutex::new(None::<SpIBinder>), Condvar::new()));
        let cb = new_binder(Waiter {
            name: name.to_string(),
            slot: waiter.clone(),
        });
        self.register_for_notifications(name, &cb)?;
        let (lock, cv) = &*waiter;
        let mut got = lock.lock().unwrap_or_else(|e| e.into_inner());
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        while got.is_none() {
            match deadline {
                None => got = cv.wait(got).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    got = cv
                        .wait_timeout(got, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
        let result = got.take();
        drop(got);
        let _ = self.unregister_for_notifications(name, &cb);
        result.ok_or_else(|| {
            Status::from_code(
                StatusCode::NameNotFound,
                format!("no service {name:?} appeared within {timeout:?}"),
            )
        })
    }

    /// The names this caller may find.
    pub fn list_services(&self) -> Result<Vec<String>> {
        self.sm.transact(codes::LIST, Parcel::new(), false)?.read()
    }

    /// Calls `callback` (a `capbinder.IServiceCallback`) when `name` is
    /// registered, and at once if it already is.
    pub fn register_for_notifications(&self, name: &str, callback: &SpIBinder) -> Result<()> {
        let mut p = Parcel::new();
        p.write(name)?;
        p.write_binder(callback)?;
        self.sm.transact(codes::REGISTER, p, false).map(|_| ())
    }

    /// Registers a sandboxed app (root only): from now on requests from
    /// `uid` are checked against `services`, and `name` is its label. A
    /// second registration of the same uid replaces the first.
    pub fn register_app(&self, uid: u32, name: &str, services: &[String]) -> Result<()> {
        let mut p = Parcel::new();
        p.write(&uid)?;
        p.write(name)?;
        p.write(services)?;
        self.sm.transact(codes::REGISTER_APP, p, false).map(|_| ())
    }

    /// Registers a sandboxed app (as [`register_app`](Self::register_app))
    /// and registers it again each time the service manager restarts, for
    /// as long as `alive` (the app's pidfd) says the app runs: a restarted
    /// service manager has forgotten it and denies it everything until
    /// then. Starts the thread pool (the death notice arrives on a pool
    /// thread).
    pub fn keep_app_registered(
        uid: u32,
        name: &str,
        services: &[String],
        alive: std::os::fd::OwnedFd,
    ) -> Result<()> {
        let app = Arc::new(AppRegistration {
            uid,
            name: name.to_string(),
            services: services.to_vec(),
            alive,
        });
        ProcessState::get()?.start_thread_pool();
        let sm = ServiceManager::get()?;
        sm.register_app(uid, name, services)?;
        KeptApp::watch(app, sm)
    }

    /// Stops notifications to `callback` for `name`. A callback that is
    /// not registered for `name` (never, or no longer) is an
    /// `IllegalState` exception, as AOSP's servicemanager answers
    /// (`EX_ILLEGAL_STATE`); a name the caller may not find, `Security`.
    pub fn unregister_for_notifications(&self, name: &str, callback: &SpIBinder) -> Result<()> {
        let mut p = Parcel::new();
        p.write(name)?;
        p.write_binder(callback)?;
        self.sm.transact(codes::UNREGISTER, p, false).map(|_| ())
    }

    /// The binder behind handle 0.
    pub fn as_binder(&self) -> &SpIBinder {
        &self.sm
    }
}

/// What [`ServiceManager::keep_app_registered`] registers again.
struct AppRegistration {
    uid: u32,
    name: String,
    services: Vec<String>,
    alive: std::os::fd::OwnedFd,
}

/// Watches one service manager for the app. It holds that service
/// manager's proxy: a death link lasts only as long as the proxy, and
/// nothing else in the launcher keeps one (the cycle through the proxy's
/// recipients ends when that service manager dies).
struct KeptApp {
    app: Arc<AppRegistration>,
    _sm: SpIBinder,
}

impl KeptApp {
    fn watch(app: Arc<AppRegistration>, sm: ServiceManager) -> Result<()> {
        let binder = sm.as_binder().clone();
        binder.link_to_death(Arc::new(KeptApp {
            app,
            _sm: binder.clone(),
        }))
    }
}

impl DeathRecipient for KeptApp {
    fn binder_died(&self, _: &WeakBinder) {
        let app = self.app.clone();
        // Not on the pool thread: the new service manager may take a while
        // to come, and the pool must go on serving meanwhile.
        std::thread::spawn(move || loop {
            if !capbinder_kmod_shim::sys::cred::pidfd_is_alive(&app.alive).unwrap_or(false) {
                return;
            }
            // Until a new context manager answers: a retry interval, not
            // a wait for something to happen (nothing announces it).
            std::thread::sleep(Duration::from_millis(50));
            // A fresh proxy for handle 0 each time: the old one is dead.
            let Ok(sm) = ServiceManager::get() else {
                continue;
            };
            if sm.register_app(app.uid, &app.name, &app.services).is_ok() {
                let _ = KeptApp::watch(app, sm);
                return;
            }
        });
    }
}

struct Waiter {
    name: String,
    slot: Arc<(Mutex<Option<SpIBinder>>, Condvar)>,
}

impl Binder for Waiter {
    fn descriptor(&self) -> &str {
        CALLBACK_DESCRIPTOR
    }

    fn on_transact(&self, code: u32, data: &mut Parcel, _reply: &mut Parcel) -> Result<()> {
        if code != codes::ON_REGISTRATION {
            return Err(Status::from_code(
                StatusCode::UnknownTransaction,
                "unknown code",
            ));
        }
        let name: String = data.read()?;
        let b = data.read_binder()?;
        if name == self.name && !b.death_seen() {
            let (lock, cv) = &*self.slot;
            *lock.lock().unwrap_or_else(|e| e.into_inner()) = Some(b);
            cv.notify_all();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_lets_root_add_and_everyone_find() {
        let p = Policy::default_for(1000);
        assert!(p.check(Action::Add, "media", 0, None).is_ok());
        assert!(p.check(Action::Add, "media", 1000, None).is_ok());
        let e = p.check(Action::Add, "media", 4242, None).unwrap_err();
        assert_eq!(e.exception, ExceptionCode::Security);
        assert!(e.message.contains("no policy rule allows it"), "{e}");
        assert!(p.check(Action::Find, "media", 4242, None).is_ok());
        assert!(p.check(Action::List, "*", 4242, None).is_ok());
    }

    #[test]
    fn a_denial_names_the_rule() {
        let p = Policy::from_toml(
            r#"
            [[rule]]
            name = "no apps find secrets"
            effect = "deny"
            actions = ["find"]
            services = ["secret.*"]
            labels = ["app.player"]

            [[rule]]
            name = "everyone finds"
            actions = ["find", "list"]
            "#,
        )
        .unwrap();
        let e = p
            .check(Action::Find, "secret.keys", 10001, Some("app.player"))
            .unwrap_err();
        assert!(e.message.contains("no apps find secrets"), "{e}");
        assert!(p
            .check(Action::Find, "secret.keys", 10001, Some("app.other"))
            .is_ok());
        assert!(p
            .check(Action::Find, "media", 10001, Some("app.player"))
            .is_ok());
    }

    #[test]
    fn a_bad_policy_says_what_is_wrong() {
        let e = Policy::from_toml("[[rule]]\nname='x'\nactions=['fly']\n").unwrap_err();
        assert!(e.contains("fly"), "{e}");
        let e =
            Policy::from_toml("[[rule]]\nname='x'\neffect='maybe'\nactions=['add']\n").unwrap_err();
        assert!(e.contains("maybe"), "{e}");
    }

    #[test]
    fn an_app_finds_only_what_its_manifest_lists() {
        let app = AppRule {
            uid: 10001,
            name: "player".into(),
            services: vec!["media.player".into(), "media.codec.*".into()],
        };
        assert!(app.check(Action::Find, "media.player").is_ok());
        assert!(app.check(Action::Find, "media.codec.mp3").is_ok());
        assert!(app.check(Action::List, "*").is_ok());
        let e = app.check(Action::Find, "contacts").unwrap_err();
        assert_eq!(e.exception, ExceptionCode::Security);
        assert!(e.message.contains("\"player\""), "{e}");
        assert!(e.message.contains("media.player"), "{e}");
        assert!(app.check(Action::Add, "media.player").is_err());
    }

    #[test]
    fn an_app_passes_its_manifest_and_then_the_policy() {
        let sm = ServiceManagerService::new(
            Policy::from_toml(
                r#"
                [[rule]]
                name = "no player finds media.secret"
                effect = "deny"
                actions = ["find"]
                services = ["media.secret"]
                labels = ["player"]

                [[rule]]
                name = "everyone finds"
                actions = ["find", "list"]
                "#,
            )
            .unwrap(),
        );
        let app = AppRule {
            uid: 10001,
            name: "player".into(),
            services: vec!["media.*".into()],
        };
        let ok = sm.check(
            Some(&app),
            Action::Find,
            "media.player",
            10001,
            Some("player"),
        );
        assert!(ok.is_ok());
        let e = sm
            .check(
                Some(&app),
                Action::Find,
                "media.secret",
                10001,
                Some("player"),
            )
            .unwrap_err();
        assert!(e.message.contains("no player finds media.secret"), "{e}");
        let e = sm
            .check(Some(&app), Action::Find, "contacts", 10001, Some("player"))
            .unwrap_err();
        assert!(e.message.contains("manifest"), "{e}");
        // An unregistered uid only meets the policy.
        assert!(sm.check(None, Action::Find, "contacts", 1000, None).is_ok());
    }

    #[test]
    fn an_unregistered_app_uid_is_denied_everything() {
        let sm = ServiceManagerService::new(Policy::default_for(0)).with_app_uids(Some(UidRange {
            first: 70000,
            last: 70999,
        }));
        // The default policy lets anyone find; an app uid without its
        // registration (a restarted service manager) gets nothing.
        let e = sm
            .check(None, Action::Find, "contacts", 70001, Some("player"))
            .unwrap_err();
        assert_eq!(e.exception, ExceptionCode::Security);
        assert!(e.message.contains("no app is registered"), "{e}");
        assert!(sm.check(None, Action::List, "*", 70001, None).is_err());
        // Registered, it meets its manifest; outside the range, the policy.
        let app = AppRule {
            uid: 70001,
            name: "player".into(),
            services: vec!["media.*".into()],
        };
        assert!(sm
            .check(Some(&app), Action::Find, "media.x", 70001, None)
            .is_ok());
        assert!(sm
            .check(None, Action::Find, "contacts", 71000, None)
            .is_ok());
        let open = ServiceManagerService::new(Policy::default_for(0)).with_app_uids(None);
        assert!(open
            .check(None, Action::Find, "contacts", 70001, None)
            .is_ok());
    }

    #[test]
    fn unregistering_a_callback_that_is_not_registered_is_an_illegal_state() {
        let sm = ServiceManagerService::new(Policy::default_for(0));
        let call = |code, name: &str, cb: &SpIBinder| {
            let mut p = Parcel::new();
            p.write(name)?;
            p.write_binder(cb)?;
            p.rewind();
            sm.on_transact(code, &mut p, &mut Parcel::new())
        };
        let cb = new_binder(Waiter {
            name: "svc".into(),
            slot: Arc::default(),
        });
        let e = call(codes::UNREGISTER, "svc", &cb).unwrap_err();
        assert_eq!(e.exception, ExceptionCode::IllegalState, "{e}");
        call(codes::REGISTER, "svc", &cb).unwrap();
        call(codes::REGISTER, "svc", &cb).unwrap();
        // Registered for "svc" only: not for another name.
        let e = call(codes::UNREGISTER, "other", &cb).unwrap_err();
        assert_eq!(e.exception, ExceptionCode::IllegalState, "{e}");
        // One unregister takes every registration of that callback.
        call(codes::UNREGISTER, "svc", &cb).unwrap();
        let e = call(codes::UNREGISTER, "svc", &cb).unwrap_err();
        assert_eq!(e.exception, ExceptionCode::IllegalState, "{e}");
        assert!(e.message.contains("not registered"), "{e}");
        let r = sm.registry.lock().unwrap();
        assert!(r.callbacks.is_empty(), "no empty lists are left behind");
    }

    #[test]
    fn a_service_is_handed_out_with_the_rights_its_registration_granted() {
        use capbinder_core::Rights;
        let sm = ServiceManagerService::new(Policy::default_for(0));
        let svc = new_binder(Waiter {
            name: "svc".into(),
            slot: Arc::default(),
        });
        // A service's own object: every right on the wire, the narrowing
        // as the field after it (what add_service_with_rights writes).
        let mut p = Parcel::new();
        p.write("svc").unwrap();
        p.write_binder(&svc).unwrap();
        p.write(&Rights::CALL.0).unwrap();
        p.rewind();
        sm.on_transact(codes::ADD, &mut p, &mut Parcel::new())
            .unwrap();
        let mut q = Parcel::new();
        q.write("svc").unwrap();
        q.rewind();
        let mut reply = Parcel::new();
        sm.on_transact(codes::CHECK, &mut q, &mut reply).unwrap();
        reply.rewind();
        let (b, rights) = reply.read_binder_with_rights().unwrap();
        assert_eq!(b, svc);
        assert_eq!(rights, Rights::CALL, "call-only, as registered");
    }

    #[test]
    fn one_uid_holds_a_bounded_number_of_registration_callbacks() {
        let sm = ServiceManagerService::new(Policy::default_for(0));
        let register = |cb: &SpIBinder| {
            let mut p = Parcel::new();
            p.write("svc")?;
            p.write_binder(cb)?;
            p.rewind();
            sm.on_transact(codes::REGISTER, &mut p, &mut Parcel::new())
        };
        let waiter = || {
            new_binder(Waiter {
                name: "svc".into(),
                slot: Arc::default(),
            })
        };
        for _ in 0..MAX_CALLBACKS_PER_UID {
            register(&waiter()).unwrap();
        }
        let e = register(&waiter()).unwrap_err();
        assert_eq!(e.exception, ExceptionCode::IllegalState, "{e}");
        assert!(e.message.contains("registration callbacks"), "{e}");
    }

    #[test]
    fn a_check_of_a_name_that_cannot_be_registered_finds_nothing() {
        let sm = ServiceManagerService::new(Policy::default_for(0));
        let mut p = Parcel::new();
        p.write(&"x.".repeat(20_000)).unwrap();
        p.rewind();
        let mut reply = Parcel::new();
        sm.on_transact(codes::CHECK, &mut p, &mut reply).unwrap();
        reply.rewind();
        assert!(reply.read_nullable_binder().unwrap().is_none());
    }

    #[test]
    fn service_names_are_checked_as_aosp_checks_them() {
        let sm = ServiceManagerService::new(Policy::default_for(0));
        let cb = new_binder(Waiter {
            name: "svc".into(),
            slot: Arc::default(),
        });
        let call = |code, name: &str| {
            let mut p = Parcel::new();
            p.write(name)?;
            p.write_binder(&cb)?;
            p.rewind();
            sm.on_transact(code, &mut p, &mut Parcel::new())
        };
        let longest = "a".repeat(MAX_NAME);
        for good in [
            "media.player",
            "android.hardware.foo.IFoo/default",
            "a_b-c",
            "0",
            &longest,
        ] {
            call(codes::ADD, good).unwrap_or_else(|e| panic!("{good:?}: {e}"));
            call(codes::REGISTER, good).unwrap_or_else(|e| panic!("{good:?}: {e}"));
        }
        let too_long = "a".repeat(MAX_NAME + 1);
        for bad in ["", "InvalidName!$", "a b", "caf\u{e9}", "x:y", &too_long] {
            for code in [codes::ADD, codes::REGISTER] {
                let e = call(code, bad).unwrap_err();
                assert_eq!(e.exception, ExceptionCode::IllegalArgument, "{bad:?}: {e}");
                assert!(e.message.contains("invalid service name"), "{e}");
            }
        }
        assert!(sm.registry.lock().unwrap().services.len() == 5);
    }

    #[test]
    fn globs_match_like_shell_stars() {
        assert!(glob("*", "anything"));
        assert!(glob("media.*", "media.player"));
        assert!(!glob("media.*", "mediaplayer"));
        assert!(glob("*.player", "media.player"));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b*c", "aXXbYY"));
    }
}
