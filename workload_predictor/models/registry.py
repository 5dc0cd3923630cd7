"""The model registry: every model the package (and a user) can name, in one place.

An entry maps a name (``"dlinear"``) to its class, declared as ``"module:Class"`` so
that listing the models imports none of them (the LSTM's module imports torch). The
class's ``__init__`` signature is the model's parameter spec (names, defaults and
annotated types are read from it, never written twice); the entry adds what a
signature cannot say:

* capabilities: whether the model needs torch, whether it is a simple *baseline*
  (no learned weights, at most one setting chosen on the training part; scored by the
  backtest, and a candidate for the ensemble's fallback), whether it may be an ensemble
  *member*, whether it *combines* members itself;
* ``window_param``: which of its parameters the predictor's ``window`` sets;
* persistence hooks: the extra classes a model file may hold for it (data classes,
  torch modules), by ``"module:Class"``. A model file can name nothing that is not
  registered here.

Everything that lists models reads this module: ``WorkloadPredictor``, the ensemble,
the backtest, the CLI and the model-file loader. Adding a model is one class plus one
:func:`register` call::

    register("doubler", Doubler)          # Doubler: a BaseForecaster subclass

Settings that are not a model's own but the predictor's (``RUNTIME_PARAMS``: the
seed, torch threads and device, the training-time limit, the progress bar, and the
validation split) reach every model whose signature takes them.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import importlib
import inspect
from typing import Any, Iterable, Mapping

import numpy as np

from ..errors import QUOTE_LIMIT, ModelFileError, WorkloadDataError, cut, is_integer, is_positive_int, quote

#: Settings the predictor (and the ensemble) pass to each model whose ``__init__`` takes them.
RUNTIME_PARAMS = ("horizon", "random_state", "n_threads", "device", "max_training_time", "verbose",
                  "validation_fraction", "max_validation_windows")
#: Largest ``random_state``: seeds are 32-bit unsigned integers, what ``np.random.RandomState`` (and so
#: scikit-learn's ``check_random_state``) accepts; torch and ``np.random.SeedSequence`` take them all.
MAX_SEED = 2**32 - 1
#: The device names the torch models take (besides ``"cuda:N"``).
DEVICES = ("cpu", "cuda", "auto")


def check_random_state(random_state: Any) -> None:
    """``random_state`` is None or an integer seed in [0, 2**32 - 1] (numpy integers too)."""
    if random_state is None:
        return
    if not is_integer(random_state) or not 0 <= random_state <= MAX_SEED:
        raise WorkloadDataError(f"random_state={quote(random_state)} must be None or an integer seed in "
                                f"[0, 2**32 - 1] (e.g. 0); a numpy RandomState or Generator is not accepted.")


#: Most torch threads ``n_threads`` may ask for: more than any machine has cores (torch sizes its thread pool by it:
#: 10**9 asks for 80 GB).
MAX_THREADS = 4096


def check_n_threads(n_threads: Any) -> None:
    """``n_threads`` is None (keep the process's ``torch.set_num_threads``) or a positive integer up to
    :data:`MAX_THREADS`."""
    if n_threads is not None and not (is_positive_int(n_threads) and n_threads <= MAX_THREADS):
        raise WorkloadDataError(f"n_threads={quote(n_threads)} must be a positive integer number of torch "
                                f"threads up to {MAX_THREADS:,} (e.g. 1), or None to keep the process's "
                                "torch.set_num_threads.")


def check_device_name(device: Any) -> None:
    """``device`` is one of :data:`DEVICES` or ``"cuda:N"`` (whether torch sees that device is the torch models'
    check, when they build their network)."""
    if device not in DEVICES and not (isinstance(device, str) and device.startswith("cuda:")
                                      and device[5:].isdigit()):
        raise WorkloadDataError(f"device={quote(device)} must be one of {DEVICES} (or 'cuda:N').")


def check_verbose(verbose: Any) -> None:
    """``verbose`` is None (a bar only on a terminal), True or False."""
    if verbose is not None and not isinstance(verbose, (bool, np.bool_)):
        raise WorkloadDataError(f"verbose={quote(verbose)} must be True, False or None (a progress bar only when "
                                "stderr is a terminal).")


def check_runtime_settings(owner: Any) -> None:
    """Typed errors for the seed, thread count, device name and progress bar of a predictor or ensemble, whether or
    not its model uses them: a bad value is refused the same way for a DLinear as for an LSTM (the torch-free checks
    the torch models share)."""
    for name, check in (("random_state", check_random_state), ("n_threads", check_n_threads),
                        ("device", check_device_name), ("verbose", check_verbose)):
        if hasattr(owner, name):
            check(getattr(owner, name))


# A model that needs PyTorch, where it is not installed: the error names the install (PyTorch's CPU build; a bare
# ``pip install torch`` takes a CUDA build of several GB) and what runs without it.
TORCH_MISSING = ("model {name!r} needs PyTorch, which is not installed: python3 -m pip install torch --index-url "
                 "https://download.pytorch.org/whl/cpu (or a CUDA build from pytorch.org); DLinear and the baselines "
                 "run without it (model='dlinear').")


def is_torch_missing(exc: ModuleNotFoundError) -> bool:
    """Whether an import failed for want of PyTorch itself (not of a module of this package)."""
    return exc.name is not None and exc.name.split(".")[0] == "torch"


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One registered model: its name, class, capabilities and persistence hooks."""

    name: str
    target: str | type  # the class, or "module:Class" imported when first needed
    needs_torch: bool = False
    baseline: bool = False
    member: bool = True
    combines: bool = False
    window_param: str | None = "window"
    persisted: tuple[str, ...] = ()

    @property
    def cls(self) -> type:
        """The model class (imported on first use; a typed error if the target is none)."""
        try:
            cls = resolve(self.target)
        except ModuleNotFoundError as exc:
            if self.needs_torch and is_torch_missing(exc):
                raise ModuleNotFoundError(TORCH_MISSING.format(name=self.name), name="torch") from None
            raise WorkloadDataError(f"model {self.name!r} is registered as {quote(self.target)}, which cannot be "
                                    f"imported ({type(exc).__name__}: {cut(exc)}); register the model's class or "
                                    "its 'module:Class' path.") from None
        except (ImportError, AttributeError) as exc:
            raise WorkloadDataError(f"model {self.name!r} is registered as {quote(self.target)}, which cannot be "
                                    f"imported ({type(exc).__name__}: {cut(exc)}); register the model's class or "
                                    "its 'module:Class' path.") from None
        _checked_class(self.name, cls, self.window_param)
        return cls

    def params(self) -> dict[str, inspect.Parameter]:
        """The parameter spec: name -> ``inspect.Parameter`` (default, annotation) from ``__init__``."""
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        signature = inspect.signature(self.cls.__init__)
        return {p.name: p for p in signature.parameters.values() if p.name != "self" and p.kind in kinds}

    def defaults(self) -> dict[str, Any]:
        """Each parameter's default value."""
        return {name: p.default for name, p in self.params().items()}

    def tunable(self) -> list[str]:
        """The parameters a user sets through ``model_params`` (all but the runtime settings)."""
        return [name for name in self.params() if name not in RUNTIME_PARAMS]


_REGISTRY: dict[str, ModelEntry] = {}
#: Class names model files give other classes (:func:`workload_predictor.persistence.allow` reserves them).
_RESERVED: set[str] = set()
#: What a model class implements itself (``fit`` or ``_fit_arrays``; the ensemble fits its members in ``fit``).
_REQUIRED = ("context_length", "_predict_at")
#: The settings every model takes: ``fit`` reads them (the predictor's horizon must reach the model).
_REQUIRED_PARAMS = ("horizon", "validation_fraction", "max_validation_windows")


def reserve(name: str) -> None:
    """Keep the class name ``name`` (a class model files may hold besides the models) from a model's classes."""
    _RESERVED.add(name)


def check_model_class(name: str, cls: Any, window_param: str | None) -> None:
    """A typed error unless ``cls`` is a forecaster class the predictor can build as model ``name``: a
    :class:`~workload_predictor.models.base.BaseForecaster` subclass implementing its own forecasts, whose
    ``__init__`` takes ``horizon``, the validation split and ``window_param``."""
    from .base import BaseForecaster

    if not (isinstance(cls, type) and issubclass(cls, BaseForecaster)):
        raise WorkloadDataError(f"model {name!r}: {quote(cls)} is not a BaseForecaster subclass; register a class "
                                "deriving from workload_predictor.models.base.BaseForecaster.")
    missing = [method for method in _REQUIRED if getattr(cls, method) is getattr(BaseForecaster, method)]
    if cls.fit is BaseForecaster.fit and cls._fit_arrays is BaseForecaster._fit_arrays:
        missing.append("_fit_arrays")
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    params = [p.name for p in inspect.signature(cls.__init__).parameters.values() if p.kind in kinds]
    absent = [param for param in (*_REQUIRED_PARAMS, *([window_param] if window_param else ())) if param not in params]
    if missing or absent:
        lacks = [f"the methods {', '.join(missing)}"] if missing else []
        lacks += [f"__init__ parameters {', '.join(absent)}"] if absent else []
        raise WorkloadDataError(f"model {name!r}: {cls.__qualname__} lacks {' and '.join(lacks)} (see "
                                "BaseForecaster; window_param=None for a model that takes no window).")


#: :func:`check_model_class` once per imported class (every build reads the entry's class).
_checked_class = functools.lru_cache(maxsize=256)(check_model_class)


def resolve(target: str | type) -> type:
    """The class of a target: a class, or ``"module:Class"`` (imported now)."""
    if isinstance(target, str):
        module, _, attribute = target.partition(":")
        return getattr(importlib.import_module(module), attribute)
    return target


def register(name: str, cls: str | type, *, needs_torch: bool = False, baseline: bool = False,
             member: bool = True, combines: bool = False, window_param: str | None = "window",
             persisted: Iterable[str | type] = ()) -> ModelEntry:
    """Make the model ``cls`` available as ``name`` to the predictor, ensemble, backtest, CLI and model files.

    Parameters
    ----------
    name : str
        The name users pass as ``WorkloadPredictor(model=name)``; a Python identifier.
    cls : type or str
        A :class:`~workload_predictor.models.base.BaseForecaster` subclass, or ``"module:Class"``.
    needs_torch, baseline, member, combines : bool
        Capabilities: imports torch; is a simple baseline (backtest, the ensemble's fallback); may be an
        ensemble member; combines members (the ensemble).
    window_param : str or None
        The parameter that the predictor's ``window`` sets (``None``: it takes no window).
    persisted : iterable of type or str
        Further classes its fitted state holds (data classes, torch modules) that model files may rebuild.

    Returns
    -------
    ModelEntry
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise WorkloadDataError(f"model name {quote(name)} must be a Python identifier, e.g. 'my_model'.")
    if name in _REGISTRY:
        raise WorkloadDataError(f"a model named {quote(name)} is already registered; choose another name.")
    for flag, value in (("needs_torch", needs_torch), ("baseline", baseline), ("member", member),
                        ("combines", combines)):
        if not isinstance(value, bool):
            raise WorkloadDataError(f"{flag}={quote(value)} must be True or False.")
    if window_param is not None and not (isinstance(window_param, str) and window_param.isidentifier()):
        raise WorkloadDataError(f"window_param={quote(window_param)} must name a parameter of the model's __init__, or "
                                "be None for a model that takes no window.")
    if isinstance(cls, str):
        _check_target(cls, "cls")
    else:
        check_model_class(name, cls, window_param)  # a string target is checked when first imported
    hooks = tuple(persisted)
    for hook in hooks:
        if isinstance(hook, str):
            _check_target(hook, "persisted")
        elif not isinstance(hook, type):
            raise WorkloadDataError(f"persisted holds {quote(hook)}; pass classes or 'module:Class' strings.")
    hooks = tuple(p if isinstance(p, str) else f"{p.__module__}:{p.__qualname__}" for p in hooks)
    # Model files name classes by their class name (and the forecast names a model by its class): one class per name.
    taken = {**{class_name(t): e.name for e in _REGISTRY.values() for t in (e.target, *e.persisted)},
             **{reserved: "model files" for reserved in _RESERVED}}
    for target in (cls, *hooks):
        if class_name(target) in taken:
            raise WorkloadDataError(f"model {name!r}: a class named {class_name(target)!r} is already registered (by "
                                    f"{taken[class_name(target)]!r}); model files name classes by their name, so "
                                    "each needs its own: rename the class, or subclass it under a new name.")
    entry = ModelEntry(name, cls, needs_torch, baseline, member, combines, window_param, hooks)
    _REGISTRY[name] = entry
    return entry


def _check_target(target: str, what: str) -> None:
    """A typed error unless ``target`` reads ``"module:Class"`` (imported when first needed, not now)."""
    module, _, attribute = target.partition(":")
    if not (all(part.isidentifier() for part in module.split(".")) and attribute.isidentifier()):
        raise WorkloadDataError(f"{what}={quote(target)} must be a class or a 'module:Class' string, e.g. "
                                "'my_package.models:MyModel'.")


def unregister(name: str) -> None:
    """Remove a model registered with :func:`register` (tests use it to clean up)."""
    _REGISTRY.pop(name, None)


#: What :func:`names` filters by (the capabilities :func:`register` takes).
CAPABILITIES = ("needs_torch", "baseline", "member", "combines")


def names(**capabilities: bool) -> tuple[str, ...]:
    """The registered names, in registration order, with the given capabilities (e.g. ``baseline=True``).

    Parameters
    ----------
    **capabilities :
        ``needs_torch``, ``baseline``, ``member`` or ``combines`` (as :func:`register` takes them) ``=True`` or
        ``False``; none lists every name.

    Returns
    -------
    tuple of str

    Raises
    ------
    WorkloadDataError
        A capability that is not one of :data:`CAPABILITIES`, or a value that is not ``True`` or ``False``.
    """
    for key, value in capabilities.items():
        if key not in CAPABILITIES:
            raise WorkloadDataError(f"names({key}=...): {quote(key)} is no capability; filter by one of "
                                    f"{', '.join(CAPABILITIES)}.")
        if not isinstance(value, bool):
            raise WorkloadDataError(f"names({key}={quote(value)}): a capability is True or False.")
    return tuple(n for n, e in _REGISTRY.items() if all(getattr(e, k) == v for k, v in capabilities.items()))



def get(name: Any, what: str = "model") -> ModelEntry:
    """The entry for ``name``; a :class:`WorkloadDataError` listing the valid names if there is none."""
    if isinstance(name, str) and name in _REGISTRY:
        return _REGISTRY[name]
    raise WorkloadDataError(f"{what}={quote(name)} is unknown; choose one of {', '.join(_REGISTRY)}.")


def build(name: str, settings: Mapping[str, Any], params: Mapping[str, Any] | None = None,
          what: str = "model_params"):
    """An unfitted model ``name``.

    ``settings`` are the caller's runtime settings and ``window``: each reaches the model
    if its ``__init__`` takes it (``window`` through the entry's ``window_param``, and
    only when not ``None``). ``params`` are the model's own parameters (``model_params``);
    a key the model does not take raises :class:`WorkloadDataError` listing those it does.
    The model holds deep copies of ``params``, never the caller's objects.
    A ``window`` that is not ``None`` or a positive integer raises :class:`WorkloadDataError`,
    also for a model that takes no window. ``what``: the argument ``params`` came from, as messages name it (an
    ensemble's member: ``member_params['dlinear']``).
    """
    entry = get(name)
    spec = entry.params()
    params = {} if params is None else params
    check_params(entry, params, what)
    # The model's own copies (as scikit-learn's clone gives a meta-estimator's fitted estimator): a caller changing
    # its model_params (a list or dict inside) in place after the fit would change the fitted model's settings.
    try:
        params = copy.deepcopy(dict(params))
    except Exception as exc:  # a value holding a lock, a file or a socket is no setting
        raise WorkloadDataError(f"{what} holds a value that cannot be copied ({type(exc).__name__}: {cut(exc)}); pass "
                                "settings: numbers, strings, and lists, tuples or dicts of them.") from None
    kwargs = {key: value for key, value in settings.items() if key in RUNTIME_PARAMS and key in spec}
    if is_positive_int(kwargs.get("horizon")):  # a numpy integer reaches the model (and its network) as an int
        kwargs["horizon"] = int(kwargs["horizon"])
    window = settings.get("window")
    if is_positive_int(window):
        window = int(window)
    # Checked here for every model: one that takes no window (naive, exponential smoothing, the seasonal
    # median) ignores it, but a bad setting is refused as DLinear refuses it, and before any fit (a fleet's too).
    if window is not None and not is_positive_int(window):
        ignored = "" if entry.window_param is not None else f"; {entry.name} takes no window"
        raise WorkloadDataError(f"window={quote(window)} must be a positive integer number of buckets (e.g. 12), or "
                                f"None for the model's default{ignored}.")
    if window is not None and entry.window_param is not None:
        if entry.window_param in params:
            raise WorkloadDataError(f"window={quote(window)} and {what}[{quote(entry.window_param)}] both set "
                                    f"{entry.name}'s window; pass one of them.")
        kwargs[entry.window_param] = window
    kwargs.update(params)
    return entry.cls(**kwargs)


def check_params(entry: ModelEntry, params: Any, what: str = "model_params") -> None:
    """Raise :class:`WorkloadDataError` unless ``params`` (the argument ``what``) is a mapping of ``entry``'s own
    parameters."""
    if not isinstance(params, Mapping):
        raise WorkloadDataError(f"{what}={quote(params)} must be a dict of {entry.name}'s parameters.")
    valid = entry.tunable()
    unknown = [key for key in params if key not in valid]
    if unknown:
        # The first dozen, each cut short: a message echoes at most a few hundred characters of what was passed.
        shown = ", ".join(quote(key, QUOTE_LIMIT // 2) for key in unknown[:12])
        if len(unknown) > 12:
            shown += f", ... ({len(unknown):,} unknown in all)"
        raise WorkloadDataError(
            f"{what} has {shown}, which {entry.name} does not take; its parameters: "
            f"{', '.join(valid) or 'none'} (the runtime settings are WorkloadPredictor's own arguments)."
        )


def params_for(name: str, **values: Any) -> dict[str, Any]:
    """``model_params`` for ``name`` that set each of ``values`` wherever the model takes it.

    A model that combines members gets them in ``member_params``, for each of its default
    members that takes them: ``params_for("ensemble", max_epochs=3)`` is
    ``{"member_params": {"lstm": {"max_epochs": 3}}}``.
    """
    entry = get(name)
    params = {key: value for key, value in values.items() if key in entry.tunable()}
    if entry.combines:
        members = entry.defaults()["members"]
        nested = {member: params_for(member, **values) for member in members}
        if any(nested.values()):
            params["member_params"] = {member: p for member, p in nested.items() if p}
    return params


def class_name(target: str | type) -> str:
    """The class name of an entry's target, without importing it."""
    return target.partition(":")[2] if isinstance(target, str) else target.__qualname__


def name_of(model: Any) -> str:
    """The registered name of a model instance's class (the first entry whose target it is)."""
    kind = type(model).__name__
    return next(entry.name for entry in _REGISTRY.values() if class_name(entry.target) == kind)


def persisted_classes() -> dict[str, str | type]:
    """Every model class a model file may rebuild, by class name: the registered models and their hooks."""
    classes: dict[str, str | type] = {}
    for entry in _REGISTRY.values():
        for target in (entry.target, *entry.persisted):
            classes.setdefault(class_name(target), target)
    return classes


def resolve_persisted(name: Any) -> type | None:
    """The class a model file names, if it is one :func:`persisted_classes` allows (imported now)."""
    target = persisted_classes().get(name) if isinstance(name, str) else None
    if target is None:
        return None
    try:
        return resolve(target)
    except (ImportError, AttributeError) as exc:
        raise ModelFileError(f"the model file names class {quote(name)}, registered as {quote(target)}, which cannot "
                             f"be imported ({type(exc).__name__}: {cut(exc)}).") from None



def record_init(cls: type) -> type:
    """Class decorator: keep the keyword arguments ``__init__`` was called with in ``init_args_``.

    Model files store them in the signature's order and rebuild such an object (a torch
    module) as ``cls(*values)`` before loading its state, so no constructor is written out
    by hand. The constructor takes positional-or-keyword parameters only.
    """
    original = cls.__init__
    signature = inspect.signature(original)
    if any(p.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD for p in signature.parameters.values()):
        raise TypeError(f"{cls.__name__}.__init__ must take positional-or-keyword parameters only.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        original(self, *args, **kwargs)
        self.init_args_ = {k: v for k, v in list(bound.arguments.items())[1:]}

    __init__.__signature__ = signature  # type: ignore[attr-defined]
    __init__.__doc__ = original.__doc__
    cls.__init__ = __init__
    return cls


# -- the package's models ------------------------------------------------------------------------
# Resolved relative to this package, so that a second copy imported under another name (benchmarks/update_ab.py's
# A/B of two revisions) builds its own classes, not the installed package's.
_PACKAGE = __name__.rpartition(".")[0]
register("dlinear", f"{_PACKAGE}.dlinear:DLinear",
         persisted=(f"{_PACKAGE}.dlinear:WindowStats", f"{_PACKAGE}.dlinear:RidgeInverse"))
register("lstm", f"{_PACKAGE}.lstm:LSTM", needs_torch=True,
         persisted=(f"{_PACKAGE}.lstm:_PatchLSTM", f"{_PACKAGE}.training:TrainingResult"))
register("ensemble", f"{_PACKAGE}.ensemble:Ensemble", member=False, combines=True)
register("naive", f"{_PACKAGE}.baselines:Naive", baseline=True, window_param=None)
register("seasonal_naive", f"{_PACKAGE}.baselines:SeasonalNaive", baseline=True, window_param="season_length")
register("moving_average", f"{_PACKAGE}.baselines:MovingAverage", baseline=True)
register("moving_median", f"{_PACKAGE}.baselines:MovingMedian", baseline=True, window_param=None)
register("exponential_smoothing", f"{_PACKAGE}.baselines:ExponentialSmoothing", window_param=None)
register("seasonal_median", f"{_PACKAGE}.baselines:SeasonalMedian", window_param=None)
# DLinear on log(1 + load) (its WindowStats and RidgeInverse are registered with "dlinear").
register("dlinear_log", f"{_PACKAGE}.dlinear:LogDLinear")
