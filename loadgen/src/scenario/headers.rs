//! `[headers]`: the client's default headers, the same for every user. Refused where a value
//! differs per user (a capture, `{user_index}`, anything not a `[vars]` constant), with the file,
//! the line and the per-request form: in a Locust script the same mistake sends one user's token
//! with everyone's requests.

use http::header::{HeaderName, HeaderValue};

use super::{Compiler, Request, RequestFile, Scenario, ScenarioFile};
use crate::template::Template;

impl Compiler<'_> {
    /// `[headers]`, refused where a value differs per user: a client's default headers are set
    /// once and shared by every user, so a token or an id there would be one user's for all of
    /// them (Locust's error of headers set on a client its users share). The message gives the
    /// per-request form.
    pub(super) fn shared_headers(
        &self,
        file: &ScenarioFile,
    ) -> anyhow::Result<Vec<(HeaderName, Template)>> {
        let mut captured: Vec<(String, String)> = Vec::new();
        let mut note = |r: &RequestFile, key: String| {
            for var in r.capture.keys() {
                captured.push((var.clone(), key.clone()));
            }
        };
        if let Some(a) = &file.auth {
            note(&a.login, "auth.login".into());
            if let Some(r) = &a.refresh {
                note(r, "auth.refresh".into());
            }
        }
        for (i, r) in file.on_start.iter().enumerate() {
            note(r, format!("on_start[{i}]"));
        }
        for (i, t) in file.task.iter().enumerate() {
            for (j, r) in t.request.iter().enumerate() {
                note(r, format!("task[{i}].request[{j}]"));
            }
        }
        let mut names: Vec<&String> = file.headers.keys().collect();
        names.sort();
        let mut headers = Vec::new();
        for h in names {
            let v = &file.headers[h];
            let key = format!("headers.{h}");
            let header = HeaderName::from_bytes(h.as_bytes())
                .map_err(|_| self.at(v, "headers", format!("{h:?} is not a header name")))?;
            let template = Template::parse(v.get_ref()).map_err(|e| self.at(v, &key, e))?;
            let per_user = template
                .variables()
                .find(|var| !file.vars.contains_key(*var))
                .map(|var| match captured.iter().find(|(c, _)| c == var) {
                    Some((_, at)) => format!("{{{var}}} is captured per user (by {at})"),
                    None => format!("{{{var}}} is not a [vars] constant"),
                })
                .or_else(|| {
                    template
                        .reads_user_index()
                        .then(|| "{user_index} differs per user".to_owned())
                });
            if let Some(why) = per_user {
                return Err(self.at(
                    v,
                    &key,
                    format!(
                        "{why}, but [headers] are set once on the client every user shares \
                         (like headers set on a shared Locust client), so one user's value would \
                         be sent by all of them; set it on each request instead: `headers = {{ \
                         {h} = {:?} }}` in the [[task.request]] (or [auth] header for a token)",
                        v.get_ref()
                    ),
                ));
            }
            if template.variables().next().is_none() && HeaderValue::from_str(v.get_ref()).is_err()
            {
                return Err(self.at(v, &key, "not a valid header value"));
            }
            headers.push((header, template));
        }
        Ok(headers)
    }
}

impl Scenario {
    /// The `[headers]` on every request that does not set the same header itself.
    pub(super) fn add_shared_headers(&mut self, shared: &[(HeaderName, Template)]) {
        if shared.is_empty() {
            return;
        }
        let add = |r: &mut Request| {
            for (name, value) in shared {
                if !r.headers.iter().any(|(n, _)| n == name) {
                    r.headers.push((name.clone(), value.clone()));
                }
            }
        };
        if let Some(a) = &mut self.auth {
            add(&mut a.login);
            if let Some(r) = &mut a.refresh {
                add(r);
            }
        }
        self.on_start.iter_mut().for_each(add);
        for t in &mut self.tasks {
            t.requests.iter_mut().for_each(add);
        }
    }
}
