//! The clients' figures over a bench's rounds: each figure is the median of its rounds and each
//! ratio the median of the rounds' own ratios (two runs a minute apart share a shared machine's
//! slow spells; runs far apart do not).

use anyhow::Context as _;

use crate::bench_loadgen::Client;

#[derive(Default)]
pub(crate) struct Rounds {
    figures: Vec<(&'static str, Vec<Client>)>,
}

impl Rounds {
    pub(crate) fn add(&mut self, client: Client) {
        match self.figures.iter_mut().find(|(n, _)| *n == client.name) {
            Some((_, all)) => all.push(client),
            None => self.figures.push((client.name, vec![client])),
        }
    }

    fn of(&self, name: &str) -> &[Client] {
        self.figures
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, all)| all.as_slice())
            .unwrap_or_default()
    }

    /// The round with the median requests/s of `name`.
    pub(crate) fn median(&self, name: &str) -> anyhow::Result<Client> {
        let mut all: Vec<&Client> = self.of(name).iter().collect();
        all.sort_by(|a, b| a.requests_per_second.total_cmp(&b.requests_per_second));
        all.get(all.len() / 2)
            .map(|c| **c)
            .with_context(|| format!("no figure for {name}"))
    }

    /// The median over the rounds of `a`'s requests/s over `b`'s; NaN without both.
    pub(crate) fn ratio(&self, a: &str, b: &str) -> f64 {
        let mut each: Vec<f64> = self
            .of(a)
            .iter()
            .zip(self.of(b))
            .map(|(a, b)| a.requests_per_second / b.requests_per_second)
            .collect();
        each.sort_by(f64::total_cmp);
        each.get(each.len() / 2).copied().unwrap_or(f64::NAN)
    }

    /// Every round's requests/s of every client, for the reader to see the spread.
    pub(crate) fn print_every_round(&self) {
        println!();
        println!("every round (req/s):");
        for (name, all) in &self.figures {
            let each: Vec<String> = all
                .iter()
                .map(|c| format!("{:.0}", c.requests_per_second))
                .collect();
            println!("  {name:<32} {}", each.join("  "));
        }
    }
}
