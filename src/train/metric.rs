//! The metric that picks the best checkpoint and drives early stopping: `val_loss` (lower is
//! better), a mean ROUGE over tasks, or one task's ROUGE (higher is better).

use std::collections::BTreeMap;

use super::events::TaskEval;

const ROUGE: [&str; 4] = ["rouge1", "rouge2", "rougeL", "rougeLsum"];

/// Whether `name` is a metric this module can compute.
pub fn is_valid_metric(name: &str) -> bool {
    match name.split_once('/') {
        Some((task, rouge)) => !task.is_empty() && ROUGE.contains(&rouge),
        None => name == "val_loss" || ROUGE.contains(&name),
    }
}

/// Whether bigger values of `name` are better.
pub fn higher_is_better(name: &str) -> bool {
    name != "val_loss"
}

fn rouge_of(eval: &TaskEval, which: &str) -> f64 {
    match which {
        "rouge1" => eval.rouge.rouge1,
        "rouge2" => eval.rouge.rouge2,
        "rougeL" => eval.rouge.rouge_l,
        _ => eval.rouge.rouge_lsum,
    }
}

/// The value of `name` for a validation pass; `None` when it names an unknown task or no
/// task was scored.
pub fn value(name: &str, val_loss: f64, tasks: &BTreeMap<String, TaskEval>) -> Option<f64> {
    if name == "val_loss" {
        return Some(val_loss);
    }
    match name.split_once('/') {
        Some((task, which)) => tasks.get(task).map(|eval| rouge_of(eval, which)),
        None if tasks.is_empty() => None,
        None => {
            Some(tasks.values().map(|eval| rouge_of(eval, name)).sum::<f64>() / tasks.len() as f64)
        }
    }
}

/// Whether `candidate` beats `best` on `name` by more than `threshold`.
pub fn improves(name: &str, candidate: f64, best: Option<f64>, threshold: f64) -> bool {
    match best {
        None => candidate.is_finite(),
        Some(best) if higher_is_better(name) => candidate > best + threshold,
        Some(best) => candidate < best - threshold,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(rouge1: f64) -> TaskEval {
        TaskEval {
            loss: 1.0,
            rouge: crate::eval::rouge::MeanRouge {
                rouge1,
                rouge2: 0.1,
                rouge_l: 0.2,
                rouge_lsum: 0.3,
            },
            examples: 4,
            invented_rate: 0.0,
        }
    }

    #[test]
    fn names_values_and_direction() {
        assert!(is_valid_metric("val_loss") && is_valid_metric("summary/rougeL"));
        assert!(
            !is_valid_metric("bleu") && !is_valid_metric("/rouge1") && !is_valid_metric("x/loss")
        );
        let tasks = BTreeMap::from([("a".to_string(), eval(0.2)), ("b".to_string(), eval(0.4))]);
        assert_eq!(value("val_loss", 2.5, &tasks), Some(2.5));
        assert!((value("rouge1", 2.5, &tasks).unwrap() - 0.3).abs() < 1e-12);
        assert_eq!(value("b/rouge1", 2.5, &tasks), Some(0.4));
        assert_eq!(value("c/rouge1", 2.5, &tasks), None);
        assert!(improves("val_loss", 1.0, Some(1.5), 0.1));
        assert!(!improves("val_loss", 1.45, Some(1.5), 0.1));
        assert!(improves("rouge1", 0.5, Some(0.4), 0.0));
        assert!(!improves("rouge1", 0.3, Some(0.4), 0.0));
        assert!(improves("rouge1", 0.3, None, 0.0));
    }
}
