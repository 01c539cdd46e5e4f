//! Isolation-forest benchmark data and timings (driven by `bench/iforest.sh`).
//!
//! Generates a deterministic `rows × cols` matrix (inliers from a few correlated Gaussian
//! clusters, 1 % planted outliers), writes it as `data.npy` with `labels.npy`, fits and scores it
//! `repeats` times, and writes `rust_scores.npy` and `rust_timings.json` so the scikit-learn
//! script can compare ranks and speed on exactly the same numbers.
//!
//! Usage: `iforest_bench [--out DIR] [--rows N] [--cols D] [--repeats R] [--seed S]`

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use flowhound_model::IsolationForest;
use linfa::DatasetBase;
use linfa::traits::Fit;
use ndarray::Array2;
use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::{RngCore, SeedableRng};

struct Args {
    out: PathBuf,
    rows: usize,
    cols: usize,
    repeats: usize,
    seed: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args { out: PathBuf::from("target/bench-iforest"), rows: 100_000, cols: 20, repeats: 5, seed: 42 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = || value.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--out" => a.out = PathBuf::from(&value),
            "--rows" => a.rows = num()? as usize,
            "--cols" => a.cols = num()? as usize,
            "--repeats" => a.repeats = (num()? as usize).max(1),
            "--seed" => a.seed = num()?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(a)
}

fn unit(rng: &mut Xoshiro256PlusPlus) -> f64 {
    ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// Box–Muller standard normal.
fn normal(rng: &mut Xoshiro256PlusPlus) -> f64 {
    let (u, v) = (unit(rng), unit(rng));
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

fn generate(rows: usize, cols: usize, seed: u64) -> (Array2<f64>, Vec<f64>) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let n_clusters = 4;
    let centers: Vec<Vec<f64>> =
        (0..n_clusters).map(|_| (0..cols).map(|_| 6.0 * unit(&mut rng) - 3.0).collect()).collect();
    let mut x = Array2::zeros((rows, cols));
    let mut labels = vec![0.0; rows];
    for r in 0..rows {
        if r % 100 == 99 {
            // Outlier: uniform over a box well beyond the clusters in a few random columns.
            labels[r] = 1.0;
            for c in 0..cols {
                x[[r, c]] = 0.5 * normal(&mut rng);
            }
            for _ in 0..3 {
                let c = (rng.next_u64() % cols as u64) as usize;
                x[[r, c]] = (5.0 + 3.0 * unit(&mut rng)) * if rng.next_u64() & 1 == 0 { 1.0 } else { -1.0 };
            }
            continue;
        }
        let k = (rng.next_u64() % n_clusters as u64) as usize;
        // Correlated columns: a shared latent factor plus independent noise.
        let latent = normal(&mut rng);
        for c in 0..cols {
            x[[r, c]] = centers[k][c] + 0.6 * latent * if c % 2 == 0 { 1.0 } else { -1.0 } + 0.4 * normal(&mut rng);
        }
    }
    (x, labels)
}

fn write_npy(path: &Path, data: &[f64], shape: &[usize]) -> std::io::Result<()> {
    let shape_txt = match shape {
        [n] => format!("({n},)"),
        _ => format!("({})", shape.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape_txt}, }}");
    // Magic (6) + version (2) + header length (2) + header must be a multiple of 64.
    let pad = 64 - (10 + header.len() + 1) % 64;
    header.push_str(&" ".repeat(pad % 64));
    header.push('\n');
    let mut f = std::io::BufWriter::new(fs::File::create(path)?);
    f.write_all(b"\x93NUMPY\x01\x00")?;
    f.write_all(&(header.len() as u16).to_le_bytes())?;
    f.write_all(header.as_bytes())?;
    for v in data {
        f.write_all(&v.to_le_bytes())?;
    }
    f.flush()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    fs::create_dir_all(&args.out)?;
    let (x, labels) = generate(args.rows, args.cols, args.seed);
    write_npy(&args.out.join("data.npy"), x.as_slice().ok_or("data not contiguous")?, &[args.rows, args.cols])?;
    write_npy(&args.out.join("labels.npy"), &labels, &[args.rows])?;

    let dataset = DatasetBase::from(x.clone());
    let params = IsolationForest::params().n_trees(100).subsample_size(256).seed(args.seed);
    let mut fit_s = Vec::new();
    let mut score_s = Vec::new();
    let mut scores = None;
    for _ in 0..args.repeats {
        let t = Instant::now();
        let model = params.clone().fit(&dataset)?;
        let fitted = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let s = model.score(&x)?;
        score_s.push(t.elapsed().as_secs_f64());
        fit_s.push(fitted);
        scores = Some(s);
    }
    let scores = scores.ok_or("no repeats")?;
    write_npy(&args.out.join("rust_scores.npy"), scores.as_slice().ok_or("scores not contiguous")?, &[args.rows])?;

    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut total: Vec<f64> = fit_s.iter().zip(&score_s).map(|(a, b)| a + b).collect();
    let threads = rayon::current_num_threads();
    let timings = format!(
        "{{\"rows\": {}, \"cols\": {}, \"repeats\": {}, \"threads\": {threads}, \"fit_s\": {:.6}, \"score_s\": {:.6}, \"total_s\": {:.6}}}\n",
        args.rows,
        args.cols,
        args.repeats,
        median(&mut fit_s),
        median(&mut score_s),
        median(&mut total)
    );
    fs::write(args.out.join("rust_timings.json"), &timings)?;
    print!("{timings}");
    Ok(())
}
