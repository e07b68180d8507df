//! MNIST through a ROOT tree: the IDX files are written as a tree (`image[784]/F`,
//! `label/b`) by `RootWriter`, read back by the `Loader`, checked bit-identical to the IDX
//! data, and the W1a MLP is trained on both with the same seed; the test accuracies must agree.
//!
//! usage (after scripts/fetch-mnist.sh): cargo run --release -p ferrograd-root --example
//! mnist_tree [EPOCHS] [MNIST_DIR]

use ferrograd_root::{
    BranchSpec, ColumnData, Compression, ElemType, Loader, LoaderConfig, RootWriter, Source, Split,
    TreeWriter,
};
use ferrograd_train::{Dataset, ModelSpec, OptimizerConfig, TrainConfig, Trainer};

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

fn write_split(w: &mut RootWriter, name: &str, images: &[f32], labels: &[u8]) -> AnyResult<()> {
    let specs = [
        BranchSpec::array("image", ElemType::F32, 784),
        BranchSpec::scalar("label", ElemType::U8),
    ];
    let mut t = TreeWriter::new(name, "MNIST", &specs)?;
    for (x, y) in images.chunks(784 * 1000).zip(labels.chunks(1000)) {
        t.append(
            w,
            &[&ColumnData::F32(x.to_vec()), &ColumnData::U8(y.to_vec())],
        )?;
    }
    t.finish(w)?;
    Ok(())
}

fn read_split(path: &std::path::Path, tree: &str) -> AnyResult<(Vec<f32>, Vec<u8>)> {
    let src = Source {
        path: path.to_path_buf(),
        tree: tree.into(),
        label: None,
    };
    let mut cfg = LoaderConfig::new(vec![src], vec!["image".into()]);
    cfg.targets = vec!["label".into()];
    cfg.shuffle = false;
    cfg.batch_size = 4096;
    let all = Loader::new(cfg)?.read_split(Split::Train)?;
    Ok((all.x, all.labels))
}

fn accuracy(x: &[f32], y: &[u8], tx: &[f32], ty: &[u8], epochs: u64) -> AnyResult<f64> {
    let spec = ModelSpec::Mlp {
        in_features: 784,
        hidden: 128,
        classes: 10,
    };
    let train = Dataset::new(x, y, 784)?;
    let test = Dataset::new(tx, ty, 784)?;
    let cfg = TrainConfig::new(epochs, 64, 0, OptimizerConfig::sgd(0.02, 0.9));
    let mut trainer = Trainer::new(spec, cfg, train.len())?;
    let reports = trainer.fit(&train, Some(&test), &mut |_| {})?;
    let last = reports
        .last()
        .and_then(|r| r.test)
        .ok_or("no test report")?;
    Ok(last.accuracy)
}

fn main() -> AnyResult<()> {
    let args: Vec<String> = std::env::args().collect();
    let epochs: u64 = args.get(1).map_or(Ok(5), |s| s.parse())?;
    let dir = match args.get(2) {
        Some(d) => d.into(),
        None => ferrograd_data::mnist_default_dir().ok_or("no MNIST directory")?,
    };
    let m = ferrograd_data::Mnist::load(&dir)?;
    let tmp = std::env::temp_dir().join(format!("mnist-{}.root", std::process::id()));
    let mut w = RootWriter::create(&tmp, Compression::Zstd, 3)?;
    write_split(&mut w, "train", &m.train.images, &m.train.labels)?;
    write_split(&mut w, "test", &m.test.images, &m.test.labels)?;
    w.close()?;
    let size = std::fs::metadata(&tmp)?.len();
    let (x, y) = read_split(&tmp, "train")?;
    let (tx, ty) = read_split(&tmp, "test")?;
    let _ = std::fs::remove_file(&tmp);
    let same = x
        .iter()
        .map(|v| v.to_bits())
        .eq(m.train.images.iter().map(|v| v.to_bits()))
        && y == m.train.labels
        && tx
            .iter()
            .map(|v| v.to_bits())
            .eq(m.test.images.iter().map(|v| v.to_bits()))
        && ty == m.test.labels;
    println!(
        "tree file: {:.1} MB (ZSTD); read back {} + {} rows, bit-identical to IDX: {same}",
        size as f64 / 1e6,
        y.len(),
        ty.len()
    );
    if !same {
        return Err("the tree does not hold the IDX data".into());
    }
    let from_idx = accuracy(
        &m.train.images,
        &m.train.labels,
        &m.test.images,
        &m.test.labels,
        epochs,
    )?;
    let from_tree = accuracy(&x, &y, &tx, &ty, epochs)?;
    println!(
        "test accuracy after {epochs} epochs: from IDX {:.2}%, from the ROOT tree {:.2}%",
        100.0 * from_idx,
        100.0 * from_tree
    );
    if from_idx != from_tree {
        return Err("accuracies differ".into());
    }
    Ok(())
}
