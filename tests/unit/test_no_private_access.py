"""No module of maildesk reaches into a dependency's private attributes (issue 14).

Any upgrade of a dependency may rename or remove its private attributes; intake must not
break silently because of that. The scan (ast, over maildesk/) flags:

- `x._name` (single underscore, not dunder) where `x` is not `self`/`cls` and `_name` is not
  defined by maildesk itself (a method or attribute of a maildesk class that does not derive
  from a dependency, or a maildesk module-level name), or where `x` is a name bound to an
  imported non-maildesk module (`email._encoded_words`);
- `self._name` / `cls._name` inside a class deriving from a dependency class, where `_name`
  is not defined in that class (so it is the dependency's);
- `x.__dict__` on anything but `self`, other than listing it (`.items()`/`.keys()`/`.values()`,
  or as a call argument, as logs.py lists a LogRecord's fields): state kept inside, or read
  out of, a library object behind its API;
- underscore names that are documented API (namedtuple's `_replace`...) are not private.
- overriding a dependency method known to be undocumented (UNDOCUMENTED_OVERRIDES).

ALLOWED is the explicit list of what is still there, each with why: it is empty (issue 14).
db.py's SQLite connection no longer derives from aiosqlite's (maildesk/sqlite_conn.py, on the
public sqlite3 API), and the SMTP listener reads DATA through asyncio.Protocol's documented
data_received instead of aiosmtpd's stream reader (maildesk/intake/smtp_data.py). A new entry
needs a reason, a pinned version range and a differential test.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "maildesk"

# Methods of dependency classes that are not part of their documented API: overriding one
# depends on internals exactly as reading a private attribute does.
UNDOCUMENTED_OVERRIDES = {"capture_signals"}  # uvicorn.Server's: signal handling of serve()

# Documented public API despite the underscore (collections.namedtuple; urllib's results are namedtuples).
DOCUMENTED_UNDERSCORE = {"_replace", "_asdict", "_fields", "_make", "_field_defaults"}

# (file relative to maildesk/, attribute): why it is still allowed.
ALLOWED: dict[tuple[str, str], str] = {
    # Empty on purpose: see the docstring.
}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name not in DOCUMENTED_UNDERSCORE


def _imports(tree: ast.Module) -> tuple[set[str], set[str]]:
    """(names bound to non-maildesk modules, names bound to anything imported from a non-maildesk module)."""
    modules: set[str] = set()
    foreign: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not alias.name.startswith("maildesk"):
                    bound = alias.asname or alias.name.split(".")[0]
                    modules.add(bound)
                    foreign.add(bound)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and not (node.module or "").startswith("maildesk"):
            for alias in node.names:
                foreign.add(alias.asname or alias.name)
                if node.module in ("email", "os", "importlib") or alias.name[:1].islower():
                    modules.add(alias.asname or alias.name)  # possibly a submodule: `from email import policy`
    return modules, foreign


def _derives_from_dependency(cls: ast.ClassDef, foreign: set[str], local_classes: dict[str, ast.ClassDef]) -> bool:
    for base in cls.bases:
        root = base
        while isinstance(root, ast.Attribute):
            root = root.value
        if isinstance(root, ast.Subscript):
            root = root.value
        if isinstance(root, ast.Name):
            if root.id in foreign:
                return True
            if root.id in local_classes and _derives_from_dependency(local_classes[root.id], foreign, local_classes):
                return True
    return False


def _defined_in(cls: ast.ClassDef) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(cls):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _private(node.value):
            names.add(node.value)  # __slots__ entries
    return names


def _trees() -> dict[str, ast.Module]:
    return {str(p.relative_to(PACKAGE)): ast.parse(p.read_text(), str(p)) for p in sorted(PACKAGE.rglob("*.py"))}


def _maildesk_names(trees: dict[str, ast.Module]) -> set[str]:
    """Private names maildesk defines: module-level names, and members of its own classes."""
    names: set[str] = set()
    for tree in trees.values():
        _, foreign = _imports(tree)
        classes = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    if isinstance(target, ast.Name):
                        names.add(target.id)
        for cls in classes.values():
            if not _derives_from_dependency(cls, foreign, classes):
                names |= _defined_in(cls)
    return names


def findings(trees: dict[str, ast.Module]) -> set[tuple[str, str, int]]:
    """(file, attribute, line) for every access the rules above flag."""
    ours = _maildesk_names(trees)
    found: set[tuple[str, str, int]] = set()
    for path, tree in trees.items():
        modules, foreign = _imports(tree)
        classes = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
        in_dependency_class: dict[int, set[str]] = {}  # id(attribute node) -> names its class defines
        for cls in classes.values():
            if _derives_from_dependency(cls, foreign, classes):
                defined = _defined_in(cls)
                for node in ast.walk(cls):
                    in_dependency_class[id(node)] = defined
                for item in cls.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name in UNDOCUMENTED_OVERRIDES:
                        found.add((path, item.name, item.lineno))
        listed = set()  # __dict__ nodes only listed: x.__dict__.items() or f(x.__dict__)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                if (isinstance(func, ast.Attribute) and func.attr in ("items", "keys", "values")
                        and isinstance(func.value, ast.Attribute)):
                    listed.add(id(func.value))
                listed.update(id(arg) for arg in node.args)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute):
                continue
            receiver = node.value.id if isinstance(node.value, ast.Name) else None
            if node.attr == "__dict__" and receiver not in ("self", "cls") and id(node) not in listed:
                found.add((path, node.attr, node.lineno))
            if not _private(node.attr):
                continue
            if receiver in ("self", "cls"):
                defined = in_dependency_class.get(id(node))
                if defined is not None and node.attr not in defined:
                    found.add((path, node.attr, node.lineno))
            elif receiver in modules or node.attr not in ours:
                found.add((path, node.attr, node.lineno))
    return found


def test_no_private_attribute_of_a_dependency_outside_the_allow_list() -> None:
    flagged = sorted(f for f in findings(_trees()) if (f[0], f[1]) not in ALLOWED)
    assert flagged == [], "private attributes of dependencies used (file, attribute, line): %s" % flagged


def test_allow_list_holds_nothing_stale() -> None:
    """Every allowed entry is still used: once db.py is reworked its entries must go."""
    used = {(f[0], f[1]) for f in findings(_trees())}
    assert set(ALLOWED) - used == set()


def test_the_scan_catches_what_issue_14_found() -> None:
    """Today's (before issue 14) patterns are flagged: aiosmtpd's privates on self, email's
    private module, state in Message.__dict__, uvicorn's undocumented capture_signals."""
    source = '''
import contextlib
import email
import uvicorn
from aiosmtpd.smtp import SMTP

class P(SMTP):
    def mine(self):
        self._set_post_data_state()
        return self._own
    def _own_helper(self):
        self._own = 1

class U(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):
        yield

def f(part, data):
    part.__dict__.pop("x", None)
    return email._encoded_words.decode_b(data)
'''
    flagged = {f[1] for f in findings({"fake.py": ast.parse(source)})}
    assert flagged == {"_set_post_data_state", "__dict__", "_encoded_words", "capture_signals"}
