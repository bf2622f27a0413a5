//! f16 training's working copies: the f16 weights the forward pass reads, kept beside the f32
//! master weights and written by the optimizer update itself.
//!
//! Casting each f32 master weight where it is used cost a cast launch per weight in the
//! forward pass and one more per weight gradient on the way back (162 of the 1405 launches of
//! a Flan-T5-small f16 step on lavapipe), and cast frozen weights (LoRA's base) again at every
//! step. Instead, the model the forward pass runs on holds f16 copies as its parameters, under
//! the masters' ids: its gradients come out f16 and keyed as the masters are; each update
//! casts its gradient to f32 first and casts the updated master to f16 last, both fused with
//! the update's element-wise ops into its one kernel (`grad_scale`). This is apex's "O2"
//! master-weights scheme; PyTorch's autocast makes the same f16 copy of each weight once per
//! forward pass (its cast cache).
//!
//! The numerics are exactly those of casting at use (`tests/precision.rs` compares the two
//! runs bit for bit). What the forward pass reads in f32 keeps its master: the feed-forward's
//! `wo`, the relative position tables, the layer norms' weights and the shared embedding
//! (looked up in f32, so a weight used twice, by the encoder and the decoder, sums its
//! gradients in f32 as before). A tied
//! head (T5 v1.0) casts the shared table at use; LoRA-adapted weights with their adapters
//! keep the master and the cast at use too (without dropout, Burn merges `W + A·B·scale`
//! before the cast, in f32).

use std::any::Any;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{DType, Tensor};

use crate::model::precision::cast;

/// Whether the forward pass reads the parameter at `path` (module names) in f32 whatever the
/// compute dtype: the feed-forward's `wo` (HF's `_keep_in_fp32_modules`), the relative
/// position tables (their bias joins the f32 scores), the shared embedding (its rows are
/// looked up in f32 and cast after: `T5ForConditionalGeneration::embed`) and the layer
/// norms' weights (the norm kernel scales by the f32 weight and sums its gradient in f32: a
/// copy would add a cast of the gradient to f16 and back; the tensor-op norm casts at use).
fn read_in_f32(path: &[String]) -> bool {
    path.iter().any(|name| {
        matches!(name.as_str(), "wo" | "relative_attention_bias" | "shared")
            || name.ends_with("layer_norm")
    })
}

/// A tensor of any rank, between the update that made it and the mapper that places it.
type AnyTensor = Box<dyn Any + Send>;

/// One parameter the optimizer will step: its id, its dims (to check the order against) and
/// the dtype of the working copy to make of its update (`None`: the working model reads the
/// master itself).
struct Wanted {
    id: ParamId,
    dims: Vec<usize>,
    dtype: Option<DType>,
}

/// The f16 copies one optimizer step is to make, in the order the optimizer steps the
/// parameters (module order, those with a gradient), and the copies it made.
#[derive(Default)]
struct Plan {
    wanted: VecDeque<Wanted>,
    /// Every parameter the step updates.
    stepped: HashSet<ParamId>,
    /// The copies made so far, by parameter.
    made: HashMap<ParamId, AnyTensor>,
}

/// What the optimizer's update and the trainer share: the plan of the step in progress.
#[derive(Clone, Default)]
pub struct CopyRequests(Arc<Mutex<Plan>>);

impl CopyRequests {
    /// Called by the update with the parameter it just stepped: the updated master `tensor`'s
    /// working copy, when the plan asks for one (issued right after the update's own ops,
    /// so the cast joins their kernel). An update out of the planned order (which module
    /// order rules out) drops the rest of the plan: those masters are cast afresh instead.
    pub fn after_update<const D: usize>(&self, tensor: &Tensor<D>) {
        let Ok(mut plan) = self.0.lock() else {
            return;
        };
        let Some(wanted) = plan.wanted.pop_front() else {
            return;
        };
        if wanted.dims != tensor.dims() {
            plan.wanted.clear();
            return;
        }
        if let Some(dtype) = wanted.dtype {
            let copy: AnyTensor = Box::new(cast(tensor.clone(), dtype));
            plan.made.insert(wanted.id, copy);
        }
    }

    fn start(&self, wanted: VecDeque<Wanted>) {
        if let Ok(mut plan) = self.0.lock() {
            *plan = Plan {
                stepped: wanted.iter().map(|w| w.id).collect(),
                wanted,
                made: HashMap::new(),
            };
        }
    }

    /// The copies made and the parameters stepped; the plan is emptied.
    fn finish(&self) -> (HashMap<ParamId, AnyTensor>, HashSet<ParamId>) {
        self.0
            .lock()
            .map(|mut plan| {
                let plan = std::mem::take(&mut *plan);
                (plan.made, plan.stepped)
            })
            .unwrap_or_default()
    }
}

/// Where the working copies of the last [`WorkingCopies::working`] came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refresh {
    /// Made by the update of their master (no launch of their own).
    pub from_updates: usize,
    /// Kept from the previous working model (their master did not change).
    pub kept: usize,
    /// Cast from their master (the first step; frozen weights then).
    pub cast: usize,
}

/// The working model of f16 training, and the bookkeeping that keeps it in step with the
/// masters.
pub struct WorkingCopies {
    /// The f16 compute dtype of the copies.
    dtype: DType,
    /// Ids of the LoRA-adapted weights and their adapters (they keep the master).
    adapted: HashSet<ParamId>,
    requests: CopyRequests,
    last: Mutex<Refresh>,
}

impl WorkingCopies {
    /// Working copies in `dtype` of `master`'s weights, made through `requests` (shared with
    /// the optimizer's update).
    pub fn new<M: Module>(master: &M, dtype: DType, requests: CopyRequests) -> Self {
        let mut visitor = Adapted::default();
        master.visit(&mut visitor);
        Self {
            dtype,
            adapted: visitor.adapted,
            requests,
            last: Mutex::default(),
        }
    }

    /// The model the forward pass runs on: `master` with each f16-read weight replaced by its
    /// working copy: the one the last update made, else the one `previous` holds (the master
    /// is unchanged since), else a cast of the master (the first step).
    pub fn working<M: Module>(&self, master: &M, previous: Option<&M>) -> M {
        let mut held = HashMap::new();
        if let Some(previous) = previous {
            previous.visit(&mut Held {
                held: &mut held,
                dtype: self.dtype,
            });
        }
        let (made, stepped) = self.requests.finish();
        let mut place = Place {
            dtype: self.dtype,
            adapted: &self.adapted,
            path: Vec::new(),
            made,
            stepped,
            held,
            refresh: Refresh::default(),
        };
        let working = master.clone().map(&mut place);
        if let Ok(mut last) = self.last.lock() {
            *last = place.refresh;
        }
        working
    }

    /// Where the copies of the last working model came from.
    pub fn last_refresh(&self) -> Refresh {
        self.last.lock().map(|last| *last).unwrap_or_default()
    }

    /// Announces the update about to run over `working`'s gradients `grads`: which updated
    /// masters get a working copy, in the order the optimizer steps them.
    pub fn plan_update<M: Module>(&self, working: &M, grads: &GradientsParams) {
        let mut planner = Planner {
            grads,
            dtype: self.dtype,
            adapted: &self.adapted,
            path: Vec::new(),
            wanted: VecDeque::new(),
        };
        working.visit(&mut planner);
        self.requests.start(planner.wanted);
    }
}

/// Whether the parameter at `path` with `id` gets an f16 working copy.
fn copied(adapted: &HashSet<ParamId>, path: &[String], id: &ParamId) -> bool {
    !read_in_f32(path) && !adapted.contains(id)
}

/// `grads` widened to f32 where `model`'s parameters got f16 ones (gradient accumulation
/// over micro-batches sums in f32, as it did when the casts were at use).
pub fn widen<M: Module>(model: &M, grads: &mut GradientsParams) {
    model.visit(&mut Widen { grads });
}

struct Widen<'a> {
    grads: &'a mut GradientsParams,
}

impl ModuleVisitor for Widen<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.remove::<D>(param.id) {
            self.grads.register::<D>(param.id, cast(grad, DType::F32));
        }
    }
}

/// Collects the ids of reparameterized (LoRA) weights and of their adapters: a visit shows a
/// weight, then enters its reparameterization's module.
#[derive(Default)]
struct Adapted {
    last: Option<ParamId>,
    inside: usize,
    adapted: HashSet<ParamId>,
}

impl ModuleVisitor for Adapted {
    fn enter_module(&mut self, _name: &str, container_type: &str) {
        if container_type == "Reparameterization" {
            if let Some(base) = self.last {
                self.adapted.insert(base);
            }
            self.inside += 1;
        }
    }

    fn exit_module(&mut self, _name: &str, container_type: &str) {
        if container_type == "Reparameterization" {
            self.inside = self.inside.saturating_sub(1);
        }
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.last = Some(param.id);
        if self.inside > 0 {
            self.adapted.insert(param.id);
        }
    }
}

/// The working copies a previous working model holds, by parameter.
struct Held<'a> {
    held: &'a mut HashMap<ParamId, AnyTensor>,
    dtype: DType,
}

impl ModuleVisitor for Held<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        if value.dtype() == self.dtype {
            self.held.insert(param.id, Box::new(value));
        }
    }
}

/// Lists, in module order, the parameters with a gradient and whether each gets a copy.
struct Planner<'a> {
    grads: &'a GradientsParams,
    dtype: DType,
    adapted: &'a HashSet<ParamId>,
    path: Vec<String>,
    wanted: VecDeque<Wanted>,
}

impl ModuleVisitor for Planner<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if self.grads.get::<D>(param.id).is_some() {
            let dtype = copied(self.adapted, &self.path, &param.id).then_some(self.dtype);
            self.wanted.push_back(Wanted {
                id: param.id,
                dims: param.val().dims().to_vec(),
                dtype,
            });
        }
    }
}

/// Maps the masters to the working model (see [`WorkingCopies::working`]).
struct Place<'a> {
    dtype: DType,
    adapted: &'a HashSet<ParamId>,
    path: Vec<String>,
    made: HashMap<ParamId, AnyTensor>,
    stepped: HashSet<ParamId>,
    held: HashMap<ParamId, AnyTensor>,
    refresh: Refresh,
}

impl ModuleMapper for Place<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if !copied(self.adapted, &self.path, &param.id) {
            return param;
        }
        let id = param.id;
        let dims = param.val().dims();
        let take = |from: &mut HashMap<ParamId, AnyTensor>| {
            from.remove(&id)
                .and_then(|copy| copy.downcast::<Tensor<D>>().ok())
                .map(|copy| *copy)
                .filter(|copy| copy.dims() == dims)
        };
        let made = take(&mut self.made);
        let dtype = self.dtype;
        // A master the step updated needs the copy it made: what the previous working model
        // holds is of the old value.
        let fresh = self.stepped.contains(&id);
        let held = (made.is_none() && !fresh)
            .then(|| take(&mut self.held))
            .flatten();
        let refresh = &mut self.refresh;
        param.map(|master| {
            let require_grad = master.is_require_grad();
            match (made, held) {
                // A copy made by the update: an inner tensor, a new leaf here.
                (Some(copy), _) => {
                    refresh.from_updates += 1;
                    Tensor::from_inner(copy).set_require_grad(require_grad)
                }
                // Already a leaf of the previous working model.
                (None, Some(copy)) => {
                    refresh.kept += 1;
                    copy
                }
                (None, None) => {
                    refresh.cast += 1;
                    Tensor::from_inner(cast(master.inner(), dtype)).set_require_grad(require_grad)
                }
            }
        })
    }
}
