"""API-drift guard: every transformers/peft/bitsandbytes/datasets/trl name and keyword the course uses still exists.

A static scan (AST) of course_utils/**/*.py and the code cells of notebooks/*.ipynb: imported names are resolved,
every referenced library object must exist in the installed versions, and every call's keyword names must be
accepted by `inspect.signature` (a dataclass such as `TrainingArguments` is checked against its fields). A keyword
that only a `**kwargs` would swallow passes only where the library documents it: in the callable's docstring, or
through one of the documented forwards in `forward_for` (e.g. `from_pretrained(**kwargs)` updates the model config).
The lecture's code broke on exactly this (`evaluation_strategy=`, `Trainer(tokenizer=...)`, script datasets), so an
upgrade that removes or renames something fails here with the file, line and call.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import importlib
import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
LIBRARIES = ("transformers", "peft", "bitsandbytes", "datasets", "trl")
# facts §6: the hub repo of NSMC holds only nsmc.py; datasets >= 4 refuses loading scripts.
SCRIPT_ONLY_DATASETS = {"nsmc", "e9t/nsmc"}
UNKNOWN = ("unknown",)
# Deliberate demonstrations: the notebook runs the lecture's call and asserts that it raises TypeError.
DEMONSTRATED = {
    "notebooks/00_peft_motivation.ipynb": ("TrainingArguments(...): keyword 'evaluation_strategy'",),
    "notebooks/04_qlora_training.ipynb": (
        "TrainingArguments(...): keyword 'evaluation_strategy'",
        "Trainer(...): keyword 'tokenizer'",
        "AutoModelForSequenceClassification.from_pretrained(...): keyword 'load_in_4bit'",
    ),
}
MAGIC = re.compile(r"(?m)^(\s*)[%!].*$")


# ----------------------------------------------------------------------------------------------------
# Loading library objects
# ----------------------------------------------------------------------------------------------------


class Missing(Exception):
    """A referenced library object does not exist in the installed version."""


def load(module: str, attrs: tuple[str, ...] = ()) -> object:
    """Import `module` and follow `attrs`, importing submodules where an attribute is not yet loaded."""
    try:
        obj = importlib.import_module(module)
    except ImportError as err:
        raise Missing(f"module {module!r} cannot be imported ({err})") from err
    path = module
    for attr in attrs:
        try:
            obj = getattr(obj, attr)
        except AttributeError:
            try:
                obj = importlib.import_module(f"{path}.{attr}")
            except ImportError:
                raise Missing(f"{path} has no attribute {attr!r}") from None
        path = f"{path}.{attr}"
    return obj


def is_library(module: str) -> bool:
    """True for transformers, peft, bitsandbytes, datasets, trl and their submodules."""
    return module.split(".")[0] in LIBRARIES


def documented_names(*objects: object) -> set[str]:
    """Parameter names listed in the objects' docstrings ('name (`type`...)' or 'name:' at a line start)."""
    names: set[str] = set()
    for obj in objects:
        doc = inspect.getdoc(obj) or ""
        names |= set(re.findall(r"(?m)^\s*\**([A-Za-z_]\w*)\**\s*(?:\(|:)", doc))
    return names


def parameters(obj: object) -> dict[str, inspect.Parameter] | None:
    """inspect.signature(obj).parameters, or None when Python cannot tell."""
    try:
        return dict(inspect.signature(obj).parameters)
    except (TypeError, ValueError):
        return None


def wrapper_takes_kwargs(obj: object) -> bool:
    """A decorated callable whose outer wrapper takes **kwargs (inspect.signature shows the wrapped one)."""
    func = obj.__init__ if inspect.isclass(obj) else obj
    if not hasattr(func, "__wrapped__"):
        return False
    try:
        outer = inspect.signature(func, follow_wrapped=False).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind == inspect.Parameter.VAR_KEYWORD for p in outer)


def class_docs(cls: type) -> tuple[object, ...]:
    """The class and its library base classes with their __init__s: where a class documents its arguments."""
    bases = [c for c in cls.__mro__ if is_library(c.__module__)]
    return tuple(x for c in bases for x in (c, c.__init__))


def builder_config_fields(call: ast.Call) -> set[str]:
    """load_dataset(**config_kwargs): the packaged builder's config fields (csv: CsvConfig), else BuilderConfig."""
    import datasets
    from datasets.packaged_modules import _PACKAGED_DATASETS_MODULES

    config = datasets.BuilderConfig
    first = call.args[0] if call.args else None
    if isinstance(first, ast.Constant) and first.value in _PACKAGED_DATASETS_MODULES:
        module = importlib.import_module(_PACKAGED_DATASETS_MODULES[first.value][0])
        found = [v for v in vars(module).values() if inspect.isclass(v) and issubclass(v, datasets.BuilderConfig)
                 and v.__module__ == module.__name__]
        config = found[0] if found else config
    return {f.name for f in dataclasses.fields(config)}


def model_config_names(call: ast.Call) -> set[str]:
    """PreTrainedModel.from_pretrained(**kwargs): documented as updating the configuration (PretrainedConfig)."""
    import transformers

    config = transformers.PretrainedConfig
    return set(parameters(config) or {}) | documented_names(config, config.__init__)


def generation_config_names(call: ast.Call) -> set[str]:
    """generate(**kwargs): documented as "ad hoc parametrization of generation_config" (GenerationConfig)."""
    import transformers

    config = transformers.GenerationConfig
    return set(parameters(config) or {}) | documented_names(config, config.__init__)


def forward_for(target: object):
    """Where a documented **kwargs goes, as a function of the call: {names it accepts}, or None."""
    import datasets
    import transformers

    func = getattr(target, "__func__", target)
    forwards = {
        # load_dataset(**config_kwargs) "passed to the BuilderConfig"
        datasets.load_dataset: builder_config_fields,
        # from_pretrained(**kwargs): keys that are configuration attributes update the configuration
        transformers.PreTrainedModel.from_pretrained.__func__: model_config_names,
        transformers.PretrainedConfig.from_pretrained.__func__: model_config_names,
        # generate(**kwargs): GenerationConfig attributes (do_sample, max_new_tokens, pad_token_id, ...)
        transformers.GenerationMixin.generate: generation_config_names,
    }
    return forwards.get(func)


def qualified(obj: object) -> str:
    """'module.QualName' of a function, method or class."""
    func = getattr(obj, "__func__", obj)
    return f"{getattr(func, '__module__', '')}.{getattr(func, '__qualname__', '')}"


def auto_target(owner: object, method: str) -> object | None:
    """transformers Auto classes dispatch from_pretrained to the model's or the config's from_pretrained."""
    import transformers

    name = getattr(owner, "__name__", "")
    if method == "from_pretrained" and name.startswith("AutoModel"):
        return transformers.PreTrainedModel.from_pretrained
    if method == "from_pretrained" and name == "AutoConfig":
        return transformers.PretrainedConfig.from_pretrained
    return None


def keyword_problems(target: object, call: ast.Call, documented_from: tuple[object, ...] = ()) -> list[str]:
    """Keyword names (and positional count) of `call` that `target` does not accept."""
    params = parameters(target)
    if params is None:
        return []
    kinds = inspect.Parameter
    named = {n for n, p in params.items() if p.kind in (kinds.POSITIONAL_OR_KEYWORD, kinds.KEYWORD_ONLY)}
    var_kw = any(p.kind == kinds.VAR_KEYWORD for p in params.values()) or wrapper_takes_kwargs(target)
    problems = []
    keywords = [k.arg for k in call.keywords if k.arg is not None]
    unknown = [k for k in keywords if k not in named]
    if unknown and var_kw:
        allowed = documented_names(target, *documented_from)
        forward = forward_for(target)
        if forward is not None:
            allowed |= forward(call)
        unknown = [k for k in unknown if k not in allowed]
        problems += [f"keyword {k!r} is neither a parameter nor a documented **kwargs entry{_hint(k, named)}"
                     for k in unknown]
    else:
        problems += [f"keyword {k!r} is not a parameter{_hint(k, named)}" for k in unknown]
    if not any(isinstance(a, ast.Starred) for a in call.args):
        positional = [p for p in params.values() if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)]
        if not any(p.kind == kinds.VAR_POSITIONAL for p in params.values()) and len(call.args) > len(positional):
            problems.append(f"{len(call.args)} positional arguments, at most {len(positional)} accepted")
    return problems


def _hint(name: str, accepted: set[str]) -> str:
    """'; did you mean ...?' with the closest accepted names, if any."""
    close = difflib.get_close_matches(name, sorted(accepted), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(close)}?)" if close else ""


# ----------------------------------------------------------------------------------------------------
# Resolving names in a source file (flow-insensitive: a name bound to one library value everywhere in its scope)
# ----------------------------------------------------------------------------------------------------


@dataclass
class Scope:
    """Bindings of one module or function body: name -> the expressions (or values) assigned to it."""

    parent: Scope | None
    bindings: dict[str, list] = field(default_factory=dict)

    def bind(self, name: str, value) -> None:
        """Record one binding of `name` (an AST expression or a resolved value tuple)."""
        self.bindings.setdefault(name, []).append(value)


def _collect(scope: Scope, body: list[ast.stmt], owner: dict[int, Scope]) -> None:
    """Fill `scope` from statements, giving each nested function its own scope (recorded in `owner`)."""
    for stmt in body:
        for node in _walk_same_scope(stmt):
            owner[id(node)] = scope
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        scope.bind(alias.asname, ("obj", alias.name, ()))
                    else:
                        top = alias.name.split(".")[0]
                        scope.bind(top, ("obj", top, ()))
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    scope.bind(alias.asname or alias.name, ("obj", node.module, (alias.name,)))
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        scope.bind(target.id, node.value)
                    else:
                        for name in ast.walk(target):
                            if isinstance(name, ast.Name):
                                scope.bind(name.id, UNKNOWN)
            elif (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                  and isinstance(node.value, ast.Call) and isinstance(node.annotation, ast.Name | ast.Attribute)):
                # `trainer: Trainer = build_trainer(...)`: a helper's return value, typed as a library instance
                scope.bind(node.target.id, ast.Call(func=node.annotation, args=[], keywords=[]))
            elif isinstance(node, ast.AnnAssign | ast.AugAssign | ast.For | ast.comprehension | ast.NamedExpr):
                target = node.target
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        scope.bind(name.id, node.value if isinstance(node, ast.AnnAssign) and node.value
                                   and isinstance(target, ast.Name) else UNKNOWN)
            elif isinstance(node, ast.withitem) and node.optional_vars is not None:
                for name in ast.walk(node.optional_vars):
                    if isinstance(name, ast.Name):
                        scope.bind(name.id, UNKNOWN)
            elif isinstance(node, ast.ExceptHandler) and node.name:
                scope.bind(node.name, UNKNOWN)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
                if not isinstance(node, ast.Lambda):
                    scope.bind(node.name, UNKNOWN)
                inner = Scope(scope)
                if not isinstance(node, ast.ClassDef):
                    for arg in ast.walk(node.args):
                        if isinstance(arg, ast.arg):
                            inner.bind(arg.arg, UNKNOWN)
                body_nodes = node.body if isinstance(node.body, list) else [ast.Expr(node.body)]
                _collect(inner, body_nodes, owner)


def _walk_same_scope(node: ast.AST):
    """Nodes of `node` without descending into nested function, class or lambda bodies."""
    yield node
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
        for child in (*getattr(node, "decorator_list", []), *getattr(node, "bases", [])):
            yield from _walk_same_scope(child)
        if not isinstance(node, ast.ClassDef):
            for default in (*node.args.defaults, *[d for d in node.args.kw_defaults if d]):
                yield from _walk_same_scope(default)
        return
    for child in ast.iter_child_nodes(node):
        yield from _walk_same_scope(child)


class Resolver:
    """Evaluates expressions to ('obj', module, attrs) for library objects or ('inst', module, attrs) instances."""

    def __init__(self, owner: dict[int, Scope]) -> None:
        self.owner = owner
        self.busy: set[tuple[int, str]] = set()

    def lookup(self, scope: Scope | None, name: str) -> tuple:
        """The single value `name` has in the nearest scope binding it, else UNKNOWN."""
        while scope is not None and name not in scope.bindings:
            scope = scope.parent
        if scope is None or (id(scope), name) in self.busy:
            return UNKNOWN
        self.busy.add((id(scope), name))
        try:
            values = {v if isinstance(v, tuple) else self.value(v, scope) for v in scope.bindings[name]}
        finally:
            self.busy.discard((id(scope), name))
        return values.pop() if len(values) == 1 else UNKNOWN

    def value(self, node: ast.AST, scope: Scope) -> tuple:
        """Static value of an expression in `scope`."""
        if isinstance(node, ast.Name):
            return self.lookup(scope, node.id)
        if isinstance(node, ast.Attribute):
            base = self.value(node.value, scope)
            return ("obj", base[1], (*base[2], node.attr)) if base[0] == "obj" else UNKNOWN
        if isinstance(node, ast.Call):
            return self.returned(self.value(node.func, scope))
        return UNKNOWN

    @staticmethod
    def returned(func: tuple) -> tuple:
        """What calling a library object gives: an instance of a class, of a from_pretrained owner, or annotated."""
        if func[0] != "obj" or not is_library(func[1]):
            return UNKNOWN
        try:
            obj = load(func[1], func[2])
        except Missing:
            return UNKNOWN
        if inspect.isclass(obj):
            return ("inst", func[1], func[2])
        if func[2] and func[2][-1] == "from_pretrained" and not func[2][-2].startswith("Auto"):
            return ("inst", func[1], func[2][:-1])
        try:
            annotation = inspect.signature(obj, eval_str=True).return_annotation
        except Exception:  # noqa: BLE001 - unresolvable annotations mean "unknown"
            return UNKNOWN
        if inspect.isclass(annotation) and is_library(annotation.__module__):
            return ("inst", annotation.__module__, tuple(annotation.__qualname__.split(".")))
        return UNKNOWN


# ----------------------------------------------------------------------------------------------------
# The scan
# ----------------------------------------------------------------------------------------------------


@dataclass
class Report:
    """Findings (drift) and the library calls that were checked."""

    findings: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)


def _dotted(value: tuple) -> str:
    """'module.attr.attr' of a resolved value."""
    return ".".join((value[1], *value[2]))


def scan(tree: ast.Module, where) -> Report:
    """Check every library reference and call in `tree`; `where(node)` names the file and line."""
    owner: dict[int, Scope] = {}
    module_scope = Scope(None)
    _collect(module_scope, tree.body, owner)
    resolver = Resolver(owner)
    report = Report()
    for node in ast.walk(tree):
        scope = owner.get(id(node), module_scope)
        if isinstance(node, ast.Import | ast.ImportFrom):
            _check_import(node, where, report)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            base = resolver.value(node.value, scope)
            if base[0] == "obj" and is_library(base[1]):
                try:
                    load(base[1], base[2])
                except Missing:
                    continue  # reported at the base
                try:
                    load(base[1], (*base[2], node.attr))
                except Missing as err:
                    report.findings.append(f"{where(node)}: {ast.unparse(node)}: {err}")
        if isinstance(node, ast.Call):
            _check_call(node, scope, resolver, where, report)
    return report


def _check_import(node: ast.Import | ast.ImportFrom, where, report: Report) -> None:
    """Every imported library module and name exists."""
    if isinstance(node, ast.Import):
        targets = [(alias.name, ()) for alias in node.names]
    else:
        targets = [(node.module, (alias.name,)) for alias in node.names] if node.module and node.level == 0 else []
    for module, attrs in targets:
        if is_library(module):
            try:
                load(module, attrs)
            except Missing as err:
                report.findings.append(f"{where(node)}: {ast.unparse(node)}: {err}")


def _check_call(call: ast.Call, scope: Scope, resolver: Resolver, where, report: Report) -> None:
    """A call to a library callable (or a method of a library instance) uses existing names and keywords."""
    func = resolver.value(call.func, scope)
    text = f"{ast.unparse(call.func)}(...)"
    if func[0] == "obj" and is_library(func[1]):
        try:
            target = load(func[1], func[2])
        except Missing:
            return  # reported as a missing attribute or import
        documented_from: tuple[object, ...] = ()
        if inspect.isclass(target):
            documented_from = class_docs(target)
        elif func[2]:
            auto = auto_target(load(func[1], func[2][:-1]), func[2][-1])
            if auto is not None:
                target = auto
        report.checked.append(_dotted(func))
        problems = keyword_problems(target, call, documented_from)
        problems += _dataset_script_problems(target, call)
    elif isinstance(call.func, ast.Attribute):
        instance = resolver.value(call.func.value, scope)
        if instance[0] != "inst":
            return
        cls = load(instance[1], instance[2])
        method = inspect.getattr_static(cls, call.func.attr, None)
        report.checked.append(f"{_dotted(instance)}().{call.func.attr}")
        if method is None:
            if hasattr(cls, "__getattr__"):
                return  # e.g. nn.Module submodules, PeftModel forwarding to the base model
            problems = [f"{cls.__name__} has no method {call.func.attr!r}"]
        else:
            plain = not isinstance(method, classmethod | staticmethod)
            problems = keyword_problems(getattr(cls, call.func.attr), _without_self(call) if plain else call)
    else:
        return
    report.findings += [f"{where(call)}: {text}: {p}" for p in problems]


def _without_self(call: ast.Call) -> ast.Call:
    """A method call as seen by the unbound function: one more positional argument (self)."""
    return ast.Call(func=call.func, args=[ast.Constant(None), *call.args], keywords=call.keywords)


def _dataset_script_problems(target: object, call: ast.Call) -> list[str]:
    """load_dataset of a script-only hub dataset without a data revision (datasets >= 4 has no scripts)."""
    if qualified(target) != "datasets.load.load_dataset" or not call.args:
        return []
    first = call.args[0]
    has_revision = any(k.arg == "revision" for k in call.keywords)
    if isinstance(first, ast.Constant) and first.value in SCRIPT_ONLY_DATASETS and not has_revision:
        return [f"{first.value!r} is a script dataset; datasets >= 4 cannot load it (use revision="
                f"'refs/convert/parquet' or the raw files, facts §6)"]
    return []


# ----------------------------------------------------------------------------------------------------
# Sources: package modules and notebook code cells
# ----------------------------------------------------------------------------------------------------


def python_source(path: Path) -> tuple[ast.Module, object]:
    """The parsed module and a `where` naming 'path:line'."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    rel = path.relative_to(ROOT)
    return tree, lambda node: f"{rel}:{node.lineno}"


def notebook_source(path: Path) -> tuple[ast.Module, object]:
    """All code cells as one module (IPython magics blanked); `where` names 'notebook cell N line L'."""
    nb = nbformat.read(path, as_version=4)
    body, cell_of = [], {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or cell.source.lstrip().startswith("%%"):
            continue
        tree = ast.parse(MAGIC.sub(r"\1pass", cell.source), filename=f"{path.name} cell {index}")
        for node in ast.walk(tree):
            cell_of[id(node)] = index
        body += tree.body
    rel = path.relative_to(ROOT)
    return ast.Module(body=body, type_ignores=[]), lambda node: f"{rel} cell {cell_of[id(node)]} line {node.lineno}"


SOURCES = sorted((ROOT / "course_utils").rglob("*.py")) + sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def scan_path(path: Path) -> Report:
    """Scan one package module or notebook."""
    tree, where = notebook_source(path) if path.suffix == ".ipynb" else python_source(path)
    return scan(tree, where)


def scan_text(text: str) -> Report:
    """Scan a snippet of Python (for the self-tests)."""
    return scan(ast.parse(text), lambda node: f"<snippet>:{node.lineno}")


# ----------------------------------------------------------------------------------------------------
# Tests
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_library_calls_exist_with_these_keywords(path):
    demonstrated = DEMONSTRATED.get(str(path.relative_to(ROOT)), ())
    findings = [f for f in scan_path(path).findings if not any(d in f for d in demonstrated)]
    assert not findings, "API drift in the installed versions:\n" + "\n".join(findings)


@pytest.mark.parametrize("name", sorted(DEMONSTRATED))
def test_demonstrated_breaks_are_still_found(name):
    findings = scan_path(ROOT / name).findings
    stale = [d for d in DEMONSTRATED[name] if not any(d in f for f in findings)]
    assert not stale, f"{name} no longer demonstrates {stale}: remove them from DEMONSTRATED"


def test_the_scan_sees_the_calls_that_matter():
    checked = {name for path in SOURCES for name in scan_path(path).checked}
    for call in ("transformers.TrainingArguments", "transformers.Trainer",
                 "transformers.AutoModelForSequenceClassification.from_pretrained", "transformers.BitsAndBytesConfig",
                 "datasets.load_dataset", "peft.LoraConfig", "peft.get_peft_model",
                 "bitsandbytes.functional.quantize_4bit", "transformers.Trainer().train",
                 # notebook 06 (course_utils/llm, peft-course sft)
                 "trl.SFTConfig", "trl.SFTTrainer", "transformers.AutoModelForCausalLM.from_pretrained",
                 "peft.prepare_model_for_kbit_training", "peft.PeftModel().merge_and_unload"):
        assert call in checked, f"the drift scan no longer checks {call}; it saw {sorted(checked)}"


LECTURE_CODE = '''
from datasets import load_dataset
from transformers import Trainer, TrainingArguments

dataset = load_dataset("nsmc")
args = TrainingArguments(output_dir="out", evaluation_strategy="epoch", per_device_train_batch_size=16)
trainer = Trainer(model=model, args=args, train_dataset=dataset["train"], tokenizer=tokenizer)
trainer.train()
'''


def test_the_guard_catches_the_lecture_code():
    findings = scan_text(LECTURE_CODE).findings
    assert len(findings) == 3, findings
    assert any("<snippet>:5: load_dataset(...)" in f and "script dataset" in f for f in findings)
    assert any("<snippet>:6: TrainingArguments(...)" in f and "'evaluation_strategy'" in f for f in findings)
    assert any("<snippet>:7: Trainer(...)" in f and "'tokenizer'" in f for f in findings)


def test_the_guard_accepts_the_fixed_code():
    fixed = (LECTURE_CODE.replace('load_dataset("nsmc")', 'load_dataset("e9t/nsmc", revision="refs/convert/parquet")')
             .replace("evaluation_strategy", "eval_strategy").replace("tokenizer=", "processing_class="))
    report = scan_text(fixed)
    assert report.findings == []
    assert {"transformers.TrainingArguments", "transformers.Trainer", "datasets.load_dataset"} <= set(report.checked)


@pytest.mark.parametrize(("code", "expected"), [
    ("from peft import prepare_model_for_int8_training", "no attribute 'prepare_model_for_int8_training'"),
    ("import datasets\ndatasets.load_metric('accuracy')", "no attribute 'load_metric'"),
    ("from transformers import TrainingArguments\nTrainingArguments('o', no_cuda=True)", "'no_cuda'"),
    ("from transformers import AutoModel\nAutoModel.from_pretrained('m', load_in_4bit=True)", "'load_in_4bit'"),
    ("from datasets import load_dataset\nload_dataset('csv', data_files='x', trust_remote_code=True)",
     "'trust_remote_code'"),
    ("import bitsandbytes.functional as F\nF.quantize_4bit(w, block_size=64)", "'block_size'"),
    ("from peft import LoraConfig, get_peft_model\nm = get_peft_model(model, LoraConfig(rank=8))", "'rank'"),
    ("from transformers import Trainer\nt = Trainer(model=m)\nt.fit()", "no method 'fit'"),
])
def test_the_guard_catches_other_known_breaks(code, expected):
    findings = scan_text(code).findings
    assert len(findings) == 1 and expected in findings[0], findings


def test_documented_kwargs_pass_and_undocumented_ones_fail():
    code = ("from transformers import AutoModelForSequenceClassification as A\n"
            "A.from_pretrained('m', num_labels=2, dtype='float32', quantization_config=None, device_map='cpu')\n"
            "A.from_pretrained('m', num_labelz=2)\n"
            "from transformers import AutoConfig\n"
            "AutoConfig.from_pretrained('m', num_labels=2, id2label={})\n"
            "AutoConfig.from_pretrained('m', num_lables=2)\n")
    findings = scan_text(code).findings
    assert len(findings) == 2, findings
    assert "<snippet>:3" in findings[0] and "'num_labelz'" in findings[0], findings
    assert "<snippet>:6" in findings[1] and "'num_lables'" in findings[1], findings


# ----------------------------------------------------------------------------------------------------
# Notebook 06 (course_utils/llm, peft-course sft): calls on objects the scan cannot type (function parameters), written
# out as the course makes them, then built for real on a tiny LLaMA
# ----------------------------------------------------------------------------------------------------

CAUSAL_LM_CODE = '''
import torch
from peft import LoraConfig, PeftModel, get_peft_model, prepare_model_for_kbit_training
from transformers import AutoModelForCausalLM, BitsAndBytesConfig, GenerationMixin
from trl import SFTConfig, SFTTrainer

base = AutoModelForCausalLM.from_pretrained("m", dtype=torch.float32, device_map={"": "cpu"},
                                            quantization_config=BitsAndBytesConfig(load_in_4bit=True))
base = prepare_model_for_kbit_training(base, use_gradient_checkpointing=False)
model: PeftModel = get_peft_model(base, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear",
                                                   task_type="CAUSAL_LM"))
args = SFTConfig(output_dir="o", learning_rate=3e-3, max_steps=400, per_device_train_batch_size=16, warmup_steps=0,
                 lr_scheduler_type="linear", seed=0, data_seed=0, max_length=128, completion_only_loss=True,
                 packing=False, gradient_checkpointing=False, save_strategy="no", logging_strategy="no", report_to=[],
                 disable_tqdm=True, use_cpu=True, dataloader_num_workers=0, bf16=False, fp16=False)
trainer = SFTTrainer(model=model, args=args, train_dataset=rows, processing_class=tokenizer, callbacks=[])
trainer.train()
model.set_adapter("default")
with model.disable_adapter():
    pass
model.load_adapter("adapter_dir", adapter_name="second")
merged = model.merge_and_unload()
lm: GenerationMixin = merged_model()
lm.generate(input_ids, max_new_tokens=8, do_sample=False, pad_token_id=0)
reloaded = PeftModel.from_pretrained(base, "adapter_dir")
'''
CAUSAL_LM_CALLS = ("transformers.AutoModelForCausalLM.from_pretrained", "peft.prepare_model_for_kbit_training",
                   "peft.LoraConfig", "peft.get_peft_model", "trl.SFTConfig", "trl.SFTTrainer",
                   "trl.SFTTrainer().train",
                   "peft.PeftModel().set_adapter", "peft.PeftModel().disable_adapter", "peft.PeftModel().load_adapter",
                   "peft.PeftModel().merge_and_unload", "transformers.GenerationMixin().generate",
                   "peft.PeftModel.from_pretrained")


def test_the_causal_lm_calls_exist_with_these_keywords():
    report = scan_text(CAUSAL_LM_CODE)
    assert report.findings == []
    missing = [call for call in CAUSAL_LM_CALLS if call not in report.checked]
    assert not missing, f"not checked: {missing}; checked: {sorted(set(report.checked))}"


def test_the_sft_config_fields_the_course_sets_exist():
    """Every keyword course_utils/llm/sft.py gives SFTConfig is a field of this trl's SFTConfig (the scan checks the
    same through the signature; this names the fields notebook 06 teaches)."""
    from trl import SFTConfig

    tree = ast.parse((ROOT / "course_utils" / "llm" / "sft.py").read_text(encoding="utf-8"))
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "SFTConfig"]
    used = {k.arg for call in calls for k in call.keywords if k.arg}
    taught = {"max_length", "completion_only_loss", "packing", "gradient_checkpointing", "use_cpu"}
    assert taught <= used, f"course_utils/llm/sft.py no longer sets {sorted(taught - used)}"
    assert used <= {f.name for f in dataclasses.fields(SFTConfig)}
    assert "max_seq_length" not in {f.name for f in dataclasses.fields(SFTConfig)}  # the old name, removed


def test_the_causal_lm_calls_run_on_a_tiny_llama(tmp_path):
    """The values the static scan cannot judge (target_modules="all-linear", task_type="CAUSAL_LM", do_sample=False,
    completion_only_loss) on a 2-layer LLaMA: 4-bit, LoRA on every linear layer but the head, greedy generation,
    trl's trainer on prompt-completion rows, adapters switched off / loaded / merged."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig, PeftModel, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, LlamaConfig
    from trl import SFTConfig, SFTTrainer

    from course_utils.llm.models import TINY_MODEL_DIR, load_tokenizer
    from course_utils.runtime.bnb_cpu import use_portable_path
    from course_utils.runtime.models import nf4_config

    torch.manual_seed(0)
    tokenizer = load_tokenizer(str(TINY_MODEL_DIR))
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, pad_token_id=tokenizer.pad_token_id)
    AutoModelForCausalLM.from_config(config=config).save_pretrained(tmp_path / "base")
    base = AutoModelForCausalLM.from_pretrained(tmp_path / "base", dtype=torch.float32, device_map={"": "cpu"},
                                                quantization_config=nf4_config(skip_modules=["lm_head"]))
    use_portable_path(base)  # as course_utils.llm.models.load_causal_lm: bnb's CPU path for generate after training
    base = prepare_model_for_kbit_training(base, use_gradient_checkpointing=False)
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM"))
    adapted = {name.rsplit(".", 1)[-1] for name, m in model.named_modules() if hasattr(m, "lora_A")}
    assert adapted == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    rows = Dataset.from_list([{"prompt": "### 응답:\n", "completion": "긍정"}] * 4)
    args = SFTConfig(output_dir=str(tmp_path / "o"), max_steps=1, per_device_train_batch_size=2, max_length=32,
                     completion_only_loss=True, packing=False, gradient_checkpointing=False, use_cpu=True,
                     save_strategy="no", logging_strategy="no", report_to=[], disable_tqdm=True)
    trainer = SFTTrainer(model=model, args=args, train_dataset=rows, processing_class=tokenizer)
    assert trainer.train().global_step == 1
    ids = tokenizer(["### 응답:\n"], return_tensors="pt")["input_ids"]
    greedy = [model.generate(input_ids=ids, max_new_tokens=3, do_sample=False, pad_token_id=0) for _ in range(2)]
    assert torch.equal(*greedy) and greedy[0].shape[1] == ids.shape[1] + 3
    model.save_pretrained(tmp_path / "adapter")
    model.load_adapter(str(tmp_path / "adapter"), adapter_name="second")
    model.set_adapter("second")
    assert model.active_adapter == "second"
    with model.disable_adapter():
        plain = model(input_ids=ids).logits
    assert plain.shape == (1, ids.shape[1], len(tokenizer))
    fresh = AutoModelForCausalLM.from_pretrained(tmp_path / "base", dtype=torch.float32)
    merged = PeftModel.from_pretrained(fresh, str(tmp_path / "adapter")).merge_and_unload()
    assert type(merged).__name__ == "LlamaForCausalLM" and not any("lora_" in n for n, _ in merged.named_parameters())
