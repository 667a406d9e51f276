//! The JSON emitter over arbitrary trees (any nesting, comments where values belong, scalars of
//! every kind with arbitrary bytes): it returns a value or an error, never panics, and what it
//! writes is JSON that reads back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shroud::secret::SecretBytes;
use shroud::store::{self, EmitOptions, Format};
use shroud::tree::{Comment, Entry, Kind, Map, Scalar, Tree, Value};

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
        self.0 = rest;
        b
    }
    fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a.to_vec()
    }
}

fn value(b: &mut Bytes, depth: u8) -> Value {
    let tag = b.byte();
    match tag % 9 {
        0 => Value::Null,
        1 if depth < 6 => Value::Map(map(b, depth + 1)),
        2 if depth < 6 => {
            let n = b.byte() % 5;
            Value::List((0..n).map(|_| value(b, depth + 1)).collect())
        }
        3 => Value::Comment(Comment::new(SecretBytes::new(b.take(4)), false)),
        k => {
            let kind = [Kind::Str, Kind::Int, Kind::Float, Kind::Bool, Kind::Time, Kind::Bytes]
                [(k as usize) % 6];
            let len = (b.byte() % 12) as usize;
            Value::Scalar(Scalar::new(kind, SecretBytes::new(b.take(len))))
        }
    }
}

fn map(b: &mut Bytes, depth: u8) -> Map {
    let mut m = Map::new();
    for _ in 0..b.byte() % 5 {
        if b.byte() % 4 == 0 {
            m.entries.push(Entry::Comment(Comment::new(SecretBytes::new(b.take(3)), false)));
        } else {
            let key = String::from_utf8_lossy(&b.take(3)).into_owned();
            m.entries.push(Entry::Pair(key, value(b, depth)));
        }
    }
    m
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let tree = Tree {
        branches: vec![map(&mut b, 0)],
        ..Default::default()
    };
    if let Ok(out) = store::emit(Format::Json, &tree, EmitOptions::default()) {
        store::load_plain(Format::Json, &out).expect("emitted JSON reads back");
    }
    for v in tree.branches[0].pairs().map(|(_, v)| v) {
        let _ = store::emit_value(Format::Json, v);
    }
});
