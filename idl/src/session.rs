//! The compiler driver: include roots, inputs, loading and checking.
//!
//! ```
//! use capbinder_idl::Session;
//!
//! let mut session = Session::new();
//! session.add_source(
//!     "aidl/com/example/IHello.aidl",
//!     "package com.example; interface IHello { String hello(String name); }",
//! );
//! let model = session.check().expect("valid AIDL");
//! let hello = model.lookup("com.example.IHello").unwrap();
//! let method = &hello.as_interface().unwrap().methods[0];
//! assert_eq!(method.transaction_code, 1);
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::check::{check, CheckInput};
use crate::diagnostic::{Diagnostic, Diagnostics, Severity};
use crate::lint::{lint, WarningFlags};
use crate::model::Model;
use crate::resolve::{normalize, Loader};
use crate::source::SourceMap;
use crate::stability::{check_stability, Stability};

/// What to compile and where to look for imports.
///
/// A session reads its input files, then loads every file they need from
/// the include roots (`-I`), then checks everything together. Files can be
/// on disk or given in memory ([`Session::add_source`],
/// [`Session::add_virtual_file`]); in-memory files take precedence.
#[derive(Debug, Clone, Default)]
pub struct Session {
    include_dirs: Vec<PathBuf>,
    inputs: Vec<(PathBuf, bool)>,
    overlay: BTreeMap<PathBuf, String>,
    warnings: WarningFlags,
    structured: bool,
    stability: Stability,
}

impl Session {
    /// An empty session.
    pub fn new() -> Session {
        Session::default()
    }

    /// Adds an include root (`-I dir`): `import a.b.C;` and the fully
    /// qualified name `a.b.C` find `dir/a/b/C.aidl`.
    pub fn add_include_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Session {
        self.include_dirs.push(dir.into());
        self
    }

    /// Adds an input file on disk (or one given with
    /// [`add_virtual_file`](Session::add_virtual_file)). The directory its
    /// package lives in becomes an include root too.
    pub fn add_input(&mut self, path: impl Into<PathBuf>) -> &mut Session {
        self.inputs.push((path.into(), false));
        self
    }

    /// Adds an input file whose text is given here; `path` is where it would
    /// be (it decides the expected package and how diagnostics name it).
    pub fn add_source(
        &mut self,
        path: impl Into<PathBuf>,
        text: impl Into<String>,
    ) -> &mut Session {
        let path = path.into();
        self.overlay.insert(normalize(&path), text.into());
        self.inputs.push((path, false));
        self
    }

    /// Adds an in-memory file that is not an input but can be found through
    /// the include roots, like a file on disk.
    pub fn add_virtual_file(
        &mut self,
        path: impl Into<PathBuf>,
        text: impl Into<String>,
    ) -> &mut Session {
        self.overlay.insert(normalize(&path.into()), text.into());
        self
    }

    /// Adds a preprocessed file (`-p`, like `framework.aidl`): declarations
    /// with fully qualified names, such as `parcelable android.os.Bundle;`,
    /// that other files may use.
    pub fn add_preprocessed(&mut self, path: impl Into<PathBuf>) -> &mut Session {
        self.inputs.push((path.into(), true));
        self
    }

    /// Applies a warning flag, as AOSP's `aidl` takes them: `-Weverything`,
    /// `-Wname`, `-Wno-name`, `-Werror` (see [`lint`](crate::lint)). An
    /// unknown warning name is an error.
    pub fn add_warning_flag(&mut self, flag: &str) -> Result<&mut Session, String> {
        self.warnings.add(flag)?;
        Ok(self)
    }

    /// Requires every parcelable to be declared in AIDL (`--structured`;
    /// see [`stability`](crate::stability)).
    pub fn set_structured(&mut self, structured: bool) -> &mut Session {
        self.structured = structured;
        self
    }

    /// Requires every type to be this stable (`--stability vintf`; see
    /// [`stability`](crate::stability)).
    pub fn set_stability(&mut self, stability: Stability) -> &mut Session {
        self.stability = stability;
        self
    }

    /// The include roots given so far.
    pub fn include_dirs(&self) -> &[PathBuf] {
        &self.include_dirs
    }

    /// Parses, resolves and checks every input and what it imports.
    ///
    /// On success the [`Model`] holds every type (the inputs' own ones are
    /// marked [`from_input`](crate::model::TypeDecl::from_input)); on failure
    /// the [`Diagnostics`] hold every error found (syntax errors stop the
    /// run before the semantic checks).
    pub fn check(&self) -> Result<Model, Diagnostics> {
        let mut loader = Loader::new(&self.overlay, self.include_dirs.clone());
        if self.inputs.is_empty() {
            loader.diags.push(
                Diagnostic::error("no input files").with_help("add an `.aidl` file to compile"),
            );
        }
        for (path, preprocessed) in &self.inputs {
            loader.load_input(path, *preprocessed);
        }
        loader.load_dependencies();
        let early_errors = loader.diags.iter().any(|d| d.severity == Severity::Error);
        if early_errors {
            let diags = std::mem::take(&mut loader.diags);
            return Err(Diagnostics::new(diags, Arc::new(loader.sources)));
        }
        let out = check(CheckInput {
            docs: &loader.docs,
            sources: &loader.sources,
            roots: &loader.roots,
            files: loader.files(),
        });
        let mut diags = std::mem::take(&mut loader.diags);
        diags.extend(out.diags);
        let sources: Arc<SourceMap> = Arc::new(std::mem::take(&mut loader.sources));
        if diags.iter().any(|d| d.severity == Severity::Error) {
            return Err(Diagnostics::new(diags, sources));
        }
        let mut model = Model {
            types: out.types,
            by_name: out.by_name,
            warnings: Diagnostics::new(Vec::new(), sources.clone()),
            sources: sources.clone(),
            documents: loader.docs.into_iter().map(|d| d.ast).collect(),
        };
        diags.extend(check_stability(&model, self.structured, self.stability));
        // the optional warnings need the checked model; with -Werror they
        // are errors and there is no model
        diags.extend(lint(&model, &self.warnings));
        if diags.iter().any(|d| d.severity == Severity::Error) {
            return Err(Diagnostics::new(diags, sources));
        }
        model.warnings = Diagnostics::new(diags, sources);
        Ok(model)
    }
}
