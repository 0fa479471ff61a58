"""Upload-time validation: is a binary inside the deterministic subset of WebAssembly this chain runs?

The subset is WebAssembly 1.0 (MVP) restricted to integers, plus multi-value blocks and the
sign-extension operators:

- value types ``i32`` and ``i64`` only: no ``f32``/``f64`` (NaN bit patterns and rounding modes are where
  engines may differ), no ``v128`` (SIMD, relaxed SIMD), no reference types;
- no floating-point, SIMD, atomic (threads), bulk-memory, table, reference, exception or tail-call
  instruction; no ``call_indirect`` and no tables, so every call is a direct ``call`` and the call
  graph is known at upload;
- no recursion (no function reachable from ``execute`` reaches itself) and a bounded call chain: the
  sum of the frame costs along the longest chain from ``execute`` is at most :data:`MAX_STACK_COST`,
  so a call stack never reaches the engine's native stack limit, whose exact depth depends on the
  machine's code generation (a deterministic rule instead of a machine-dependent one);
- imports only the host functions of ``abi.HOST_FUNCTIONS`` with their exact types; no imported
  memory, table or global; at most one memory, of at most :data:`MAX_MEMORY_PAGES` initial pages,
  exported as ``memory``; no start function; data segments active in memory 0 at a constant offset;
- exports ``execute`` of type ``() -> i32``;
- per function, caps that keep compilation time linear in the bytes uploaded (see
  :data:`MAX_OPERAND_STACK`): body size, block/loop/if count and nesting, locals x nesting, operand
  stack height; and at most :data:`MAX_TYPE_RESULTS` results per type.

:func:`validate` reads every section and every instruction with a bounds-checked reader, so a
truncated or hostile binary is refused with :class:`InvalidModule` naming what is wrong, never with
another exception. wasmtime then validates the rest (typing of every instruction) when it compiles.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from abci_app.modules.wasm.abi import ENTRY_POINT, HOST_FUNCTIONS, I32, I64, IMPORT_MODULE, MEMORY_EXPORT

MAGIC = b"\x00asm\x01\x00\x00\x00"
MAX_MEMORY_PAGES = 16  # 64 KiB pages: 1 MiB, also the store's memory limit (runtime.py)
MAX_TYPES = 256
MAX_TYPE_ARITY = 16  # parameters of a function or block type
MAX_TYPE_RESULTS = 4  # its results: wasmtime's compile time per call grows with them (docs/wasm.md)
MAX_IMPORTS = 64
MAX_FUNCTIONS = 1024
MAX_LOCALS = 1024  # per function, parameters included
MAX_GLOBALS = 256
MAX_EXPORTS = 64
MAX_DATA_SEGMENTS = 64
MAX_BR_TABLE = 4096
MAX_FUNCTION_BYTES = 32 * 1024
MAX_FUNCTION_CONTROLS = 256
MAX_NESTING = 32
MAX_LOCALS_X_NESTING = 512
MAX_OPERAND_STACK = 128
"""Per function: body bytes; block, loop and if instructions; how deep they nest; locals (parameters
included) times that depth; the height of the operand stack. They keep compilation time linear in the
bytes uploaded, and paid for: wasmtime's compile time grows faster than the size of one function in
the number of control instructions, in their nesting times the locals that may change inside them
(256 locals in blocks nested 255 deep took 2.5 s for 5 KB), and in the values kept live across calls
(docs/wasm.md, "Compilation"). Set so that the costliest shapes accepted compile at about 8 us a byte
at most, as measured (``python -m benchmarks.wasm``)."""
MAX_STACK_COST = 16_384
"""Half the 32,768 it was, where the costliest shape then (16-value call results live across a deeper
call, ~32 native bytes a unit) needed 1,025,329 of ``runtime.MAX_WASM_STACK``'s 1,048,576 bytes. Even
such a shape needs at most half the engine's stack now; the costliest under today's caps (4-value
results at the operand-stack cap: 7.2 bytes a unit) needs 118 KB at this cap, 8.9x below it."""
FRAME_BASE_COST = 16
"""A function's frame cost is ``FRAME_BASE_COST + params + locals + body bytes`` (an upper estimate of
its native frame in units of a few bytes each)."""

VALUE_TYPES = {0x7F: I32, 0x7E: I64}
_FORBIDDEN_TYPES = {
    0x7D: "f32",
    0x7C: "f64",
    0x7B: "v128 (SIMD)",
    0x70: "funcref (reference types)",
    0x6F: "externref (reference types)",
}

# Instructions without immediates that the subset allows, with what each does to the height of the
# operand stack (values pushed minus values popped).
_PLAIN: dict[int, int] = {
    **{0x01: 0, 0x1A: -1, 0x1B: -2},  # nop drop select
    **{0x45: 0, 0x50: 0},  # i32.eqz i64.eqz
    **{op: -1 for op in (*range(0x46, 0x50), *range(0x51, 0x5B))},  # i32/i64 comparisons
    **{op: 0 for op in (0x67, 0x68, 0x69, 0x79, 0x7A, 0x7B)},  # clz ctz popcnt
    **{op: -1 for op in (*range(0x6A, 0x79), *range(0x7C, 0x8B))},  # i32/i64 binary arithmetic
    **{op: 0 for op in (0xA7, 0xAC, 0xAD, *range(0xC0, 0xC5))},  # wrap, extend, sign extension
}
_ENDS_CODE = frozenset([0x00, 0x0C, 0x0E, 0x0F])  # unreachable br br_table return: code after is dead
# Integer loads and stores (memarg immediates; the float ones are excluded), each with its natural
# alignment as a power of two: the largest alignment exponent its memarg may give.
_MEMORY_ACCESS = {
    **{0x28: 2, 0x29: 3, 0x2C: 0, 0x2D: 0, 0x2E: 1, 0x2F: 1},  # i32.load i64.load i32.load8/16_s/u
    **{0x30: 0, 0x31: 0, 0x32: 1, 0x33: 1, 0x34: 2, 0x35: 2},  # i64.load8/16/32_s/u
    **{0x36: 2, 0x37: 3, 0x3A: 0, 0x3B: 1, 0x3C: 0, 0x3D: 1, 0x3E: 2},  # stores
}
_FLOAT = frozenset(
    [
        *(0x2A, 0x2B, 0x38, 0x39, 0x43, 0x44),  # loads, stores, consts
        *range(0x5B, 0x67),  # comparisons
        *range(0x8B, 0xA7),  # arithmetic
        *(0xA8, 0xA9, 0xAA, 0xAB),  # i32.trunc_f*
        *range(0xAE, 0xC0),  # i64.trunc_f*, conversions, reinterpretations
    ]
)
_NAMED = {
    0x06: "exception handling (try)",
    0x07: "exception handling (catch)",
    0x08: "exception handling (throw)",
    0x09: "exception handling (rethrow)",
    0x0A: "exception handling (throw_ref)",
    0x11: "call_indirect (indirect calls and tables are not supported)",
    0x12: "return_call (tail calls)",
    0x13: "return_call_indirect (tail calls)",
    0x1C: "typed select (reference types)",
    0x1F: "exception handling (try_table)",
    0x25: "table.get (reference types)",
    0x26: "table.set (reference types)",
    0xD0: "ref.null (reference types)",
    0xD1: "ref.is_null (reference types)",
    0xD2: "ref.func (reference types)",
    0xFB: "garbage-collection instructions",
    0xFD: "SIMD instructions",
    0xFE: "atomic instructions (threads)",
}


class InvalidModule(ValueError):
    """The binary is malformed or outside the deterministic subset; the message says which rule."""


@dataclass(frozen=True)
class ModuleSummary:
    """What validation learned about an accepted module."""

    imports: tuple[str, ...]  # host functions, in import order
    functions: int  # defined (not imported) functions
    memory_pages: int  # initial pages of its memory (0 without one)
    stack_cost: int  # the longest call chain's frame cost from execute


class _Reader:
    """A bounds-checked cursor over ``data[pos:end]``; every read past ``end`` is InvalidModule."""

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    @property
    def done(self) -> bool:
        return self.pos >= self.end

    def byte(self) -> int:
        if self.pos >= self.end:
            raise InvalidModule(f"unexpected end of data at byte {self.pos}")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def take(self, n: int) -> bytes:
        if n > self.end - self.pos:
            raise InvalidModule(f"{n} bytes announced at byte {self.pos}, only {self.end - self.pos} left")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def sub(self, n: int) -> _Reader:
        """A reader over the next ``n`` bytes (skipped here)."""
        if n > self.end - self.pos:
            raise InvalidModule(f"{n} bytes announced at byte {self.pos}, only {self.end - self.pos} left")
        reader = _Reader(self.data, self.pos, self.pos + n)
        self.pos += n
        return reader

    def u32(self) -> int:
        result = shift = 0
        for _ in range(5):
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                if result >= 2**32:
                    raise InvalidModule(f"u32 out of range at byte {self.pos}")
                return result
            shift += 7
        raise InvalidModule(f"u32 LEB128 longer than 5 bytes at byte {self.pos}")

    def signed(self, bits: int) -> int:
        result = shift = 0
        for _ in range((bits + 6) // 7):
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                if b & 0x40:
                    result -= 1 << shift
                if not -(2 ** (bits - 1)) <= result < 2 ** (bits - 1):
                    raise InvalidModule(f"s{bits} out of range at byte {self.pos}")
                return result
        raise InvalidModule(f"s{bits} LEB128 too long at byte {self.pos}")

    def count(self, limit: int, what: str) -> int:
        n = self.u32()
        if n > limit:
            raise InvalidModule(f"{n} {what}; at most {limit}")
        return n

    def name(self) -> str:
        raw = self.take(self.u32())
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidModule(f"a name is not valid UTF-8 (at byte {self.pos})") from None

    def value_type(self, where: str) -> str:
        code = self.byte()
        if code in VALUE_TYPES:
            return VALUE_TYPES[code]
        kind = _FORBIDDEN_TYPES.get(code, f"0x{code:02x}")
        raise InvalidModule(f"{where} uses value type {kind}; only i32 and i64 are allowed")


FuncType = tuple[tuple[str, ...], tuple[str, ...]]


@dataclass
class _Module:
    types: list[FuncType]
    func_types: list[int]  # type index of every function, imports first
    imports: list[str]
    memory_pages: int | None = None
    globals: int = 0
    exports: dict[str, tuple[int, int]] | None = None


def _type_section(r: _Reader, m: _Module) -> None:
    for i in range(r.count(MAX_TYPES, "types")):
        if r.byte() != 0x60:
            raise InvalidModule(f"type {i} is not a function type")
        params = tuple(r.value_type(f"type {i}") for _ in range(r.count(MAX_TYPE_ARITY, "parameters")))
        results = tuple(r.value_type(f"type {i}") for _ in range(r.count(MAX_TYPE_RESULTS, "results")))
        m.types.append((params, results))


def _import_section(r: _Reader, m: _Module) -> None:
    for _ in range(r.count(MAX_IMPORTS, "imports")):
        module, field = r.name(), r.name()
        kind = r.byte()
        if kind != 0x00:
            raise InvalidModule(
                f"import {module}.{field} is not a function; only host functions of {IMPORT_MODULE} "
                "may be imported (no imported memory, table or global)"
            )
        index = r.u32()
        host = HOST_FUNCTIONS.get(field) if module == IMPORT_MODULE else None
        if host is None:
            raise InvalidModule(
                f"import {module}.{field} is not a host function; allowed: "
                f"{', '.join(f'{IMPORT_MODULE}.{n}' for n in sorted(HOST_FUNCTIONS))}"
            )
        if field in m.imports:
            raise InvalidModule(f"{module}.{field} is imported twice")
        if index >= len(m.types) or m.types[index] != (host.params, host.results):
            want = f"({' '.join(host.params)}) -> ({' '.join(host.results)})"
            raise InvalidModule(f"import {module}.{field} must have type {want}")
        m.imports.append(field)
        m.func_types.append(index)


def _function_section(r: _Reader, m: _Module) -> None:
    for _ in range(r.count(MAX_FUNCTIONS, "functions")):
        index = r.u32()
        if index >= len(m.types):
            raise InvalidModule(f"function refers to type {index}, there are {len(m.types)}")
        m.func_types.append(index)


def _memory_section(r: _Reader, m: _Module) -> None:
    n = r.u32()
    if n > 1:
        raise InvalidModule(f"{n} memories; at most one (multi-memory is not supported)")
    if n == 0:
        return
    flags = r.byte()
    if flags not in (0x00, 0x01):
        raise InvalidModule(
            f"memory limits flags 0x{flags:02x}: shared and 64-bit memories are not supported"
        )
    pages = r.u32()
    maximum = r.u32() if flags == 0x01 else None
    if pages > MAX_MEMORY_PAGES:
        raise InvalidModule(f"memory of {pages} initial pages; at most {MAX_MEMORY_PAGES} (64 KiB each)")
    if maximum is not None and maximum < pages:
        raise InvalidModule(f"memory maximum {maximum} is below its minimum {pages}")
    m.memory_pages = pages


def _const_expr(r: _Reader, want: str, where: str) -> None:
    op = r.byte()
    if (op, want) == (0x41, I32):
        r.signed(32)
    elif (op, want) == (0x42, I64):
        r.signed(64)
    else:
        raise InvalidModule(f"{where} must be a single {want}.const")
    if r.byte() != 0x0B:
        raise InvalidModule(f"{where} must be a single {want}.const")


def _global_section(r: _Reader, m: _Module) -> None:
    for i in range(r.count(MAX_GLOBALS, "globals")):
        kind = r.value_type(f"global {i}")
        if r.byte() not in (0x00, 0x01):
            raise InvalidModule(f"global {i} has an invalid mutability flag")
        _const_expr(r, kind, f"the initializer of global {i}")
        m.globals += 1


def _export_section(r: _Reader, m: _Module) -> None:
    exports: dict[str, tuple[int, int]] = {}
    for _ in range(r.count(MAX_EXPORTS, "exports")):
        name = r.name()
        kind, index = r.byte(), r.u32()
        if name in exports:
            raise InvalidModule(f"export {name!r} appears twice")
        limit = {0x00: len(m.func_types), 0x02: 0 if m.memory_pages is None else 1, 0x03: m.globals}.get(kind)
        if limit is None or index >= limit:
            raise InvalidModule(f"export {name!r} does not name a function, the memory or a global")
        exports[name] = (kind, index)
    m.exports = exports


def _block_type(r: _Reader, m: _Module, where: str) -> tuple[int, int]:
    """Read a block type; returns how many values the block takes and gives."""
    code = r.data[r.pos] if r.pos < r.end else -1
    if code == 0x40:
        r.pos += 1
        return 0, 0
    if code in VALUE_TYPES or code in _FORBIDDEN_TYPES:
        r.value_type(where)
        return 0, 1
    index = r.signed(33)
    if not 0 <= index < len(m.types):
        raise InvalidModule(f"{where}: block type {index} is not a type index")
    params, results = m.types[index]
    return len(params), len(results)


@dataclass
class _OperandStack:
    """The height of one function's operand stack, instruction by instruction, against its cap.

    Each open block keeps (height below it, values it takes, values it gives). Past an instruction
    that ends the code of its block (br, br_table, return, unreachable) the stack is back at the
    block's base: an upper bound, as nothing there runs. wasmtime checks the types exactly.
    """

    where: str
    height: int = 0
    blocks: list[tuple[int, int, int]] = field(default_factory=list)

    def change(self, delta: int) -> None:
        base = self.blocks[-1][0] if self.blocks else 0
        self.height = max(base, self.height + delta)
        if self.height > MAX_OPERAND_STACK:
            raise InvalidModule(
                f"{self.where} keeps more than {MAX_OPERAND_STACK} values on its operand stack; "
                "keep values in locals instead"
            )

    def open(self, takes: int, gives: int) -> None:
        self.blocks.append((max(0, self.height - takes), takes, gives))

    def otherwise(self) -> None:  # else: the block starts again from what it took
        if self.blocks:
            base, takes, _ = self.blocks[-1]
            self.height = base + takes

    def close(self) -> None:
        if self.blocks:
            base, _, gives = self.blocks.pop()
            self.height = base
            self.change(gives)

    def dead(self) -> None:
        self.height = self.blocks[-1][0] if self.blocks else 0


def _rejected(op: int, sub: int | None) -> str:
    if op in _FLOAT or (op == 0xFC and sub is not None and sub < 8):
        return "a floating-point instruction"
    if op == 0xFC:
        return "a bulk-memory or table instruction"
    return _NAMED.get(op, "an instruction outside the supported subset")


def _body(r: _Reader, m: _Module, func: int) -> tuple[int, set[int]]:
    """Check one function body; returns (locals including params, called function indices)."""
    params = len(m.types[m.func_types[func]][0])
    where = f"function {func}"
    total = params
    for _ in range(r.u32()):
        n = r.u32()
        total += n
        if total > MAX_LOCALS:
            raise InvalidModule(f"{where} has more than {MAX_LOCALS} locals")
        r.value_type(f"a local of {where}")
    calls: set[int] = set()
    depth = 0  # block, loop and if instructions open
    controls = 0
    stack = _OperandStack(where)
    while True:
        at = r.pos
        op = r.byte()
        if op in _PLAIN:
            stack.change(_PLAIN[op])
            continue
        if op in _ENDS_CODE:
            _branch_immediates(r, op)
            stack.dead()
        elif op in (0x02, 0x03, 0x04):  # block loop if
            takes, gives = _block_type(r, m, where)
            depth += 1
            controls += 1
            _check_nesting(where, depth, total)
            if controls > MAX_FUNCTION_CONTROLS:
                raise InvalidModule(
                    f"{where} has more than {MAX_FUNCTION_CONTROLS} block, loop and if instructions; "
                    "split it into smaller functions"
                )
            stack.change(-1 if op == 0x04 else 0)  # if takes its condition
            stack.open(takes, gives)
        elif op == 0x05:  # else
            stack.otherwise()
        elif op == 0x0B:  # end
            if depth == 0:
                break
            depth -= 1
            stack.close()
        elif op == 0x0D:  # br_if
            r.u32()
            stack.change(-1)
        elif op == 0x10:  # call
            callee = r.u32()
            if callee >= len(m.func_types):
                raise InvalidModule(f"{where} calls function {callee}, there are {len(m.func_types)}")
            calls.add(callee)
            takes_, gives_ = m.types[m.func_types[callee]]
            stack.change(len(gives_) - len(takes_))
        elif op in (0x20, 0x21, 0x22):  # local.get/set/tee
            if r.u32() >= total:
                raise InvalidModule(f"{where} uses a local index beyond its {total} locals")
            stack.change({0x20: 1, 0x21: -1, 0x22: 0}[op])
        elif op in (0x23, 0x24):  # global.get/set
            if r.u32() >= m.globals:
                raise InvalidModule(f"{where} uses a global index beyond the {m.globals} globals")
            stack.change(1 if op == 0x23 else -1)
        elif op in _MEMORY_ACCESS:
            if m.memory_pages is None:
                raise InvalidModule(f"{where} accesses memory but the module defines none")
            # the alignment exponent: past the natural alignment is invalid, and bit 6 is the
            # multi-memory form (a memory index follows), which would desynchronize this reader
            align = r.u32()
            if align & 0x40:
                raise InvalidModule(
                    f"{where}: the memory access at byte {at} names a memory index (memarg flags {align}, "
                    "bit 6); multi-memory is not supported"
                )
            if align > _MEMORY_ACCESS[op]:
                raise InvalidModule(
                    f"{where}: the memory access at byte {at} has alignment 2**{align}; at most its "
                    f"natural 2**{_MEMORY_ACCESS[op]}"
                )
            r.u32()
            stack.change(-2 if op >= 0x36 else 0)  # a store takes address and value; a load gives one
        elif op in (0x3F, 0x40):  # memory.size memory.grow
            if r.byte() != 0x00 or m.memory_pages is None:
                raise InvalidModule(f"{where}: memory.size/grow needs the module's single memory")
            stack.change(1 if op == 0x3F else 0)
        elif op in (0x41, 0x42):  # i32.const i64.const
            r.signed(32 if op == 0x41 else 64)
            stack.change(1)
        else:
            sub = r.u32() if op == 0xFC and not r.done else None
            raise InvalidModule(
                f"{where} uses {_rejected(op, sub)} (opcode 0x{op:02x}"
                + (f" {sub}" if sub is not None else "")
                + f" at byte {at})"
            )
    if not r.done:
        raise InvalidModule(f"{where} has bytes after its final end")
    return total, calls


def _check_nesting(where: str, depth: int, locals_: int) -> None:
    """Refuse block/loop/if nested deeper than MAX_NESTING, or deeper than the function's locals allow."""
    if depth > MAX_NESTING:
        raise InvalidModule(f"{where} nests block, loop and if deeper than {MAX_NESTING}")
    if depth * locals_ > MAX_LOCALS_X_NESTING:
        raise InvalidModule(
            f"{where} nests block, loop and if {depth} deep with {locals_} locals (parameters included); "
            f"locals x nesting depth may be at most {MAX_LOCALS_X_NESTING}: use fewer locals or "
            "flatter control flow, or split the function"
        )


def _branch_immediates(r: _Reader, op: int) -> None:
    """Skip the label immediates of br (0x0C) and br_table (0x0E); unreachable and return have none."""
    if op == 0x0C:
        r.u32()
    elif op == 0x0E:
        for _ in range(r.count(MAX_BR_TABLE, "br_table targets") + 1):
            r.u32()


def _data_section(r: _Reader, m: _Module) -> None:
    for i in range(r.count(MAX_DATA_SEGMENTS, "data segments")):
        if r.u32() != 0:
            raise InvalidModule(
                f"data segment {i} is passive or names a memory (bulk memory is not supported)"
            )
        if m.memory_pages is None:
            raise InvalidModule(f"data segment {i} needs a memory; the module defines none")
        _const_expr(r, I32, f"the offset of data segment {i}")
        r.take(r.u32())


def _stack_cost(costs: dict[int, int], calls: dict[int, set[int]], imported: int, entry: int) -> int:
    """The largest sum of frame costs along a call chain from ``entry``; InvalidModule on recursion."""
    done: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[int, list[int]]] = [(entry, sorted(c for c in calls[entry] if c >= imported))]
    on_path.add(entry)
    while stack:
        func, pending = stack[-1]
        if pending:
            callee = pending.pop()
            if callee in on_path:
                raise InvalidModule(
                    f"function {callee} is recursive (reachable from itself); recursion is not allowed"
                )
            if callee not in done:
                on_path.add(callee)
                stack.append((callee, sorted(c for c in calls[callee] if c >= imported)))
            continue
        stack.pop()
        on_path.discard(func)
        deepest = max((done[c] for c in calls[func] if c >= imported), default=0)
        done[func] = costs[func] + deepest
    return done[entry]


def check_header(wasm: bytes, max_bytes: int) -> None:
    """The constant-time part of :func:`validate`: the size and the magic and version."""
    if len(wasm) > max_bytes:
        raise InvalidModule(f"module is {len(wasm)} bytes; at most {max_bytes}")
    if wasm[:8] != MAGIC:
        raise InvalidModule("not a WebAssembly 1.0 binary module (magic and version \\0asm 01 00 00 00)")


def validate(wasm: bytes, max_bytes: int) -> ModuleSummary:
    """Check ``wasm`` against the deterministic subset; raise :class:`InvalidModule` saying why not."""
    check_header(wasm, max_bytes)
    m = _Module(types=[], func_types=[], imports=[])
    r = _Reader(wasm, 8)
    last = 0
    costs: dict[int, int] = {}
    calls: dict[int, set[int]] = {}
    handlers = {1: _type_section, 2: _import_section, 3: _function_section, 5: _memory_section}
    handlers.update({6: _global_section, 7: _export_section, 11: _data_section})
    code_seen = False
    while not r.done:
        section = r.byte()
        content = r.sub(r.u32())
        if section == 0:
            content.name()  # a custom section (e.g. names): ignored
            continue
        if section not in (*handlers, 10):
            what = {
                4: "tables",
                8: "a start function",
                9: "element segments",
                12: "a data count (bulk memory)",
            }
            raise InvalidModule(f"section {section} ({what.get(section, 'unknown')}) is not supported")
        if section <= last:
            raise InvalidModule(f"section {section} is out of order or repeated")
        last = section
        if section == 10:
            code_seen = True
            imported = len(m.imports)
            n = content.u32()
            if n != len(m.func_types) - imported:
                raise InvalidModule(f"{n} function bodies for {len(m.func_types) - imported} functions")
            for i in range(imported, imported + n):
                size = content.u32()
                if size > MAX_FUNCTION_BYTES:
                    raise InvalidModule(
                        f"function {i} has a body of {size} bytes; at most {MAX_FUNCTION_BYTES} "
                        "(split it into smaller functions)"
                    )
                body = content.sub(size)
                local_count, calls[i] = _body(body, m, i)
                costs[i] = FRAME_BASE_COST + local_count + size
        else:
            handlers[section](content, m)
        if not content.done:
            raise InvalidModule(f"section {section} has {content.end - content.pos} trailing bytes")
    if not code_seen and len(m.func_types) > len(m.imports):
        raise InvalidModule("functions are declared but there is no code section")
    exports = m.exports or {}
    entry = exports.get(ENTRY_POINT)
    if entry is None or entry[0] != 0x00 or entry[1] < len(m.imports):
        raise InvalidModule(f"the module must export a function {ENTRY_POINT!r} it defines")
    if m.types[m.func_types[entry[1]]] != ((), (I32,)):
        raise InvalidModule(f"{ENTRY_POINT} must have type () -> (i32)")
    if m.memory_pages is not None and exports.get(MEMORY_EXPORT) != (0x02, 0):
        raise InvalidModule(f"the module's memory must be exported as {MEMORY_EXPORT!r}")
    needs_memory = [name for name in m.imports if HOST_FUNCTIONS[name].uses_memory]
    if needs_memory and m.memory_pages is None:
        raise InvalidModule(f"{', '.join(needs_memory)} read or write memory: define and export a memory")
    stack = _stack_cost(costs, calls, len(m.imports), entry[1])
    if stack > MAX_STACK_COST:
        raise InvalidModule(
            f"the deepest call chain from {ENTRY_POINT} costs {stack} stack units; at most {MAX_STACK_COST} "
            "(fewer nested calls, smaller functions or fewer locals)"
        )
    return ModuleSummary(tuple(m.imports), len(m.func_types) - len(m.imports), m.memory_pages or 0, stack)
