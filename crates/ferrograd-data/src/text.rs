//! A character corpus the project generates itself (no downloads), for W4's character-level
//! GPT: [`generate_corpus`] writes seeded, English-like text in the shape of a play (a
//! speaker's name in capitals and a colon, then one to three lines of sentences with commas,
//! contractions and `.`/`!`/`?`, then a blank line), over the 65 characters of
//! tinyshakespeare ([`VOCAB`]), so that a character model has spelling, words, capitals and
//! punctuation to learn while every framework of the benchmark trains on the same tokens.
//! [`encode`]/[`decode`] map text to token ids and back (unknown characters and ids are
//! errors), and [`TextSampler`] draws seeded batches of random windows: inputs
//! `x: [batch, seq]` and, for every position, the next token as its label.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::DataError;

/// The 65 characters of tinyshakespeare, in its (sorted) order: token id = index here.
pub const VOCAB: &str = "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Number of tokens ([`VOCAB`]'s length).
pub const VOCAB_SIZE: usize = 65;

/// The token id of `c`, if it is in [`VOCAB`].
pub fn token_of(c: char) -> Option<usize> {
    VOCAB.find(c)
}

/// `text` as token ids.
///
/// # Errors
/// [`DataError::UnknownChar`] for the first character that is not in [`VOCAB`].
pub fn encode(text: &str) -> Result<Vec<u8>, DataError> {
    text.chars()
        .enumerate()
        .map(|(at, ch)| {
            token_of(ch)
                .map(|t| t as u8)
                .ok_or(DataError::UnknownChar { ch, at })
        })
        .collect()
}

/// Token ids as text.
///
/// # Errors
/// [`DataError::UnknownToken`] for the first id that is not below [`VOCAB_SIZE`].
pub fn decode(tokens: &[u8]) -> Result<String, DataError> {
    let chars: Vec<char> = VOCAB.chars().collect();
    tokens
        .iter()
        .enumerate()
        .map(|(at, &t)| {
            chars
                .get(usize::from(t))
                .copied()
                .ok_or(DataError::UnknownToken {
                    token: usize::from(t),
                    at,
                })
        })
        .collect()
}

const SPEAKERS: &[&str] = &[
    "ANTONIO",
    "BEATRICE",
    "CLAUDIO",
    "DUKE",
    "EMILIA",
    "FIRST CITIZEN",
    "GLOUCESTER",
    "HERMIA",
    "ISABEL",
    "KING",
    "LUCIO",
    "MARIANA",
    "NURSE",
    "OLIVER",
    "PROSPERO",
    "QUEEN",
    "ROMEO",
    "SECOND CITIZEN",
    "TITUS",
    "VIOLA",
];
const NAMES: &[&str] = &[
    "Antonio", "Beatrice", "Claudio", "Emilia", "Hermia", "Isabel", "Lucio", "Mariana", "Oliver",
    "Romeo", "Titus", "Viola", "Rome", "Verona", "Padua", "Milan",
];
const NOUNS: &[&str] = &[
    "king", "queen", "lord", "lady", "heart", "hand", "eye", "night", "day", "sword", "crown",
    "love", "death", "blood", "honour", "friend", "father", "mother", "son", "daughter", "city",
    "house", "word", "tongue", "grace", "soul", "fortune", "heaven", "earth", "duke", "servant",
    "gold", "tears", "time", "head", "name", "letter", "enemy", "cause", "peace",
];
const ADJECTIVES: &[&str] = &[
    "good", "noble", "sweet", "gentle", "fair", "poor", "dear", "true", "proud", "cruel", "young",
    "old", "brave", "false", "honest", "wretched", "royal", "holy", "bloody", "great",
];
const VERBS: &[&str] = &[
    "love", "know", "speak", "see", "hear", "swear", "keep", "leave", "bring", "follow", "find",
    "serve", "kill", "pardon", "tell", "give", "fear", "call", "bear", "remember",
];
const VERBS_3RD: &[&str] = &[
    "loves",
    "knows",
    "speaks",
    "sees",
    "hears",
    "swears",
    "keeps",
    "leaves",
    "brings",
    "follows",
    "finds",
    "serves",
    "kills",
    "pardons",
    "tells",
    "gives",
    "fears",
    "calls",
    "bears",
    "remembers",
];
const ADVERBS: &[&str] = &[
    "now", "here", "well", "still", "never", "again", "too", "indeed", "tonight", "away",
];
const SUBJECTS: &[&str] = &["I", "you", "we", "they", "thou"];
const MODALS: &[&str] = &[
    "will", "shall", "must", "would", "cannot", "may", "I'll", "we'll", "don't", "won't",
];
const DETERMINERS: &[&str] = &[
    "the", "my", "your", "his", "her", "our", "this", "that", "thy",
];
const PREPOSITIONS: &[&str] = &["of", "to", "with", "for", "from", "in", "upon", "by"];
const INTERJECTIONS: &[&str] = &[
    "O", "Alas", "Nay", "Ay", "Come", "Peace", "Hark", "Good sir",
];

fn pick<'a>(rng: &mut ChaCha8Rng, words: &[&'a str]) -> &'a str {
    words[rng.random_range(0..words.len())]
}

/// A noun phrase: `the noble king`, `my lord`, `Verona`.
fn noun_phrase(rng: &mut ChaCha8Rng, out: &mut Vec<String>) {
    if rng.random_bool(0.15) {
        out.push(pick(rng, NAMES).to_string());
        return;
    }
    out.push(pick(rng, DETERMINERS).to_string());
    if rng.random_bool(0.4) {
        out.push(pick(rng, ADJECTIVES).to_string());
    }
    out.push(pick(rng, NOUNS).to_string());
    if rng.random_bool(0.2) {
        out.push(pick(rng, PREPOSITIONS).to_string());
        out.push(pick(rng, DETERMINERS).to_string());
        out.push(pick(rng, NOUNS).to_string());
    }
}

/// One clause: a subject, a verb agreeing with it, an object, sometimes an adverb.
fn clause(rng: &mut ChaCha8Rng, out: &mut Vec<String>) {
    match rng.random_range(0..3) {
        0 => {
            out.push(pick(rng, SUBJECTS).to_string());
            if rng.random_bool(0.5) {
                out.push(pick(rng, MODALS).to_string());
            }
            out.push(pick(rng, VERBS).to_string());
        }
        1 => {
            noun_phrase(rng, out);
            out.push(pick(rng, VERBS_3RD).to_string());
        }
        _ => {
            out.push(pick(rng, SUBJECTS).to_string());
            out.push(pick(rng, MODALS).to_string());
            out.push(pick(rng, VERBS).to_string());
        }
    }
    noun_phrase(rng, out);
    if rng.random_bool(0.3) {
        out.push(pick(rng, ADVERBS).to_string());
    }
}

/// One sentence, capitalised, with its final punctuation.
fn sentence(rng: &mut ChaCha8Rng) -> String {
    let mut words = Vec::new();
    if rng.random_bool(0.2) {
        words.push(format!("{},", pick(rng, INTERJECTIONS)));
    }
    clause(rng, &mut words);
    if rng.random_bool(0.35) {
        if let Some(last) = words.last_mut() {
            last.push_str(if rng.random_bool(0.8) { "," } else { ";" });
        }
        words.push(pick(rng, &["and", "but", "for", "or", "yet"]).to_string());
        clause(rng, &mut words);
    }
    let mut s = words.join(" ");
    if let Some(first) = s.chars().next() {
        let upper: String = first.to_uppercase().collect();
        s.replace_range(..first.len_utf8(), &upper);
    }
    s.push(match rng.random_range(0..10) {
        0..=5 => '.',
        6..=7 => '!',
        _ => '?',
    });
    s
}

/// At least `chars` characters of seeded play-like text over [`VOCAB`] (the same `seed`
/// gives the same text): speeches of one to three lines, each a speaker's name and a colon
/// on a line of its own, then the lines, then a blank line. Every character is in [`VOCAB`].
pub fn generate_corpus(chars: usize, seed: u64) -> String {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut text = String::with_capacity(chars + 256);
    while text.len() < chars {
        text.push_str(pick(&mut rng, SPEAKERS));
        text.push_str(":\n");
        for _ in 0..rng.random_range(1..=3) {
            let mut line = sentence(&mut rng);
            while line.len() < 40 && rng.random_bool(0.5) {
                line.push(' ');
                line.push_str(&sentence(&mut rng));
            }
            text.push_str(&line);
            text.push('\n');
        }
        text.push('\n');
    }
    text
}

/// Seeded batches of random windows of a token sequence: each example is `seq + 1`
/// consecutive tokens starting at a uniformly drawn offset; `x` gets the first `seq`, the
/// labels the last `seq` (the next token of each position). The same seed and calls give
/// the same batches.
#[derive(Debug, Clone)]
pub struct TextSampler {
    tokens: Vec<u8>,
    seq: usize,
    rng: ChaCha8Rng,
}

impl TextSampler {
    /// A sampler over `tokens` (ids below [`VOCAB_SIZE`]) for windows of `seq` positions.
    ///
    /// # Errors
    /// [`DataError::InvalidConfig`] if `seq` is 0 or `tokens` is shorter than `seq + 1`;
    /// [`DataError::UnknownToken`] for an id not below [`VOCAB_SIZE`].
    pub fn new(tokens: Vec<u8>, seq: usize, seed: u64) -> Result<TextSampler, DataError> {
        if seq == 0 {
            return Err(DataError::InvalidConfig {
                field: "TextSampler::seq",
                reason: "must be at least 1".into(),
            });
        }
        if tokens.len() <= seq {
            return Err(DataError::InvalidConfig {
                field: "TextSampler::tokens",
                reason: format!(
                    "{} tokens; a window of seq + 1 = {} needs at least that many",
                    tokens.len(),
                    seq + 1
                ),
            });
        }
        if let Some(at) = tokens.iter().position(|&t| usize::from(t) >= VOCAB_SIZE) {
            return Err(DataError::UnknownToken {
                token: usize::from(tokens[at]),
                at,
            });
        }
        Ok(TextSampler {
            tokens,
            seq,
            rng: ChaCha8Rng::seed_from_u64(seed),
        })
    }

    /// Positions per example.
    pub fn seq(&self) -> usize {
        self.seq
    }

    /// Fills the next batch: `x: [batch, seq]` token ids as `f32` (the arena engine's input
    /// type; exact) and `labels: [batch·seq]`, with `batch = x.len() / seq`.
    ///
    /// # Errors
    /// [`DataError::BadLength`] if `x.len()` is not a multiple of `seq` or `labels` differs
    /// from `x` in length.
    pub fn fill(&mut self, x: &mut [f32], labels: &mut [usize]) -> Result<(), DataError> {
        if !x.len().is_multiple_of(self.seq) {
            return Err(DataError::BadLength {
                what: "x (a multiple of seq)",
                expected: x.len() / self.seq * self.seq,
                found: x.len(),
            });
        }
        if labels.len() != x.len() {
            return Err(DataError::BadLength {
                what: "labels (batch·seq)",
                expected: x.len(),
                found: labels.len(),
            });
        }
        let starts = self.tokens.len() - self.seq;
        for (xs, ys) in x
            .chunks_exact_mut(self.seq)
            .zip(labels.chunks_exact_mut(self.seq))
        {
            let s = self.rng.random_range(0..starts);
            let w = &self.tokens[s..=s + self.seq];
            for (i, (xv, yv)) in xs.iter_mut().zip(ys.iter_mut()).enumerate() {
                *xv = f32::from(w[i]);
                *yv = usize::from(w[i + 1]);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vocabulary_is_tinyshakespeares() {
        assert_eq!(VOCAB.chars().count(), VOCAB_SIZE);
        let mut sorted: Vec<char> = VOCAB.chars().collect();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(
            sorted.iter().collect::<String>(),
            VOCAB,
            "sorted, no repeats"
        );
        assert_eq!(token_of('\n'), Some(0));
        assert_eq!(token_of('A'), Some(13));
        assert_eq!(token_of('z'), Some(64));
    }

    #[test]
    fn encode_decode_round_trip_and_reject_unknowns() {
        let text = "ROMEO:\nO, I'll swear it; good sir!\n";
        let t = encode(text).unwrap();
        assert_eq!(t.len(), text.len());
        assert_eq!(decode(&t).unwrap(), text);
        match encode("fine until é") {
            Err(DataError::UnknownChar { ch: 'é', at: 11 }) => {}
            other => panic!("{other:?}"),
        }
        match decode(&[1, 2, 65]) {
            Err(DataError::UnknownToken { token: 65, at: 2 }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_corpus_is_seeded_english_like_and_in_the_vocabulary() {
        let a = generate_corpus(20_000, 7);
        assert!(a.len() >= 20_000);
        assert_eq!(a, generate_corpus(20_000, 7));
        assert_ne!(a, generate_corpus(20_000, 8));
        let tokens = encode(&a).expect("every generated character is in the vocabulary");
        // Structure a character model can learn: speeches, capitals after a sentence end,
        // punctuation, contractions, and many distinct characters.
        assert!(a.contains(":\n") && a.contains("\n\n"));
        for p in [". ", "! ", "? ", ", ", "'"] {
            assert!(a.contains(p), "no `{p}` in the corpus");
        }
        for w in a.split(['.', '!', '?']).skip(1).take(200) {
            if let Some(c) = w.trim_start().chars().next() {
                assert!(c.is_ascii_uppercase(), "sentence starts with `{c}`: `{w}`");
            }
        }
        let mut seen = [false; VOCAB_SIZE];
        tokens.iter().for_each(|&t| seen[usize::from(t)] = true);
        assert!(seen.iter().filter(|&&s| s).count() >= 45);
        // Not uniform noise: the most common character (the space) is far above 1/65.
        let spaces = a.chars().filter(|&c| c == ' ').count() as f64 / a.len() as f64;
        assert!(spaces > 0.1, "space frequency {spaces}");
    }

    #[test]
    fn sampled_windows_are_next_token_pairs_from_the_corpus() {
        let tokens = encode(&generate_corpus(5_000, 1)).unwrap();
        let (batch, seq) = (6, 16);
        let mut s = TextSampler::new(tokens.clone(), seq, 3).unwrap();
        let mut x = vec![0.0; batch * seq];
        let mut y = vec![0; batch * seq];
        s.fill(&mut x, &mut y).unwrap();
        for (xs, ys) in x.chunks_exact(seq).zip(y.chunks_exact(seq)) {
            let ids: Vec<u8> = xs.iter().map(|&v| v as u8).collect();
            // The window occurs in the corpus, and each label is the next token.
            let at = tokens
                .windows(seq)
                .position(|w| w == ids.as_slice())
                .expect("window from the corpus");
            let next: Vec<usize> = tokens[at + 1..=at + seq]
                .iter()
                .map(|&t| usize::from(t))
                .collect();
            assert_eq!(ys, next.as_slice());
        }
        // Seeded: the same seed gives the same batch, the next batch differs.
        let mut again = TextSampler::new(tokens.clone(), seq, 3).unwrap();
        let (mut x2, mut y2) = (vec![0.0; batch * seq], vec![0; batch * seq]);
        again.fill(&mut x2, &mut y2).unwrap();
        assert_eq!((&x, &y), (&x2, &y2));
        again.fill(&mut x2, &mut y2).unwrap();
        assert_ne!(x, x2);
    }

    #[test]
    fn bad_sampler_inputs_are_errors() {
        assert!(TextSampler::new(vec![1; 4], 0, 0).is_err());
        assert!(TextSampler::new(vec![1; 4], 4, 0).is_err());
        assert!(matches!(
            TextSampler::new(vec![1, 2, 70, 3, 4], 2, 0),
            Err(DataError::UnknownToken { token: 70, at: 2 })
        ));
        let mut s = TextSampler::new(vec![1; 10], 3, 0).unwrap();
        assert!(s.fill(&mut [0.0; 7], &mut [0; 7]).is_err());
        assert!(s.fill(&mut [0.0; 6], &mut [0; 5]).is_err());
        assert!(s.fill(&mut [], &mut []).is_ok());
    }
}
