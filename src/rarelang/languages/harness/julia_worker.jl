# rarelang Julia worker: a warm Julia process that runs (program, tests) jobs one at a time.
#
# Protocol (see rarelang/sandbox/protocol.py):
#   request  on the fd given by --req-fd: "JOB <nonce> <style> <timeout_s> <n_code_bytes> <n_test_bytes>\n" + code + tests
#                       or "QUIT\n"
#   response on the fd given by --resp-fd: one JSON line per job (the ready line first)
# The job's stdout/stderr go to files in ./job/ (the worker's private scratch dir); fd 3 is
# never handed to the job's code as an IO object, and each response carries the request's nonce,
# which lives only in a local variable of `serve`, so a program cannot forge a result by printing.
#
# Judging (the reward must survive RL pressure, so nothing the program does may decide a verdict):
#   * every @test / @test_throws of the tests is rewritten into a call of a per-job closure that
#     records the outcome in local state of `run_job`: nothing the program can name reaches it
#     (Test's testsets, which the program can reach through Test.get_testset(), only structure
#     the file and report errors outside a @test); a @test that never ran counts as failed;
#   * every call in the tests goes through a guard: a comparison (==, isequal, isapprox, <, !,
#     in, ... or a call handed one of them, e.g. broadcast(==, ...)) whose arguments hold a value of
#     a type the program defined is not the tests' verdict but the program's own doing: the job
#     is judged as tampering. A program may define == for its own types and use it itself;
#   * a method the program adds for types it does not own (type piracy: `Base.:(==)(::Int,
#     ::Int)`, `@eval Base ...`, `Core.eval(Base, ...)`, a type made inside Base) is tampering:
#     such methods can change what the tests compute. Found by the world counter and, when the
#     program's own methods do not explain every bump, by a scan of every reachable method table;
#   * the harness's globals are immutable (tuples, strings), the request and response channels
#     are locals of `serve`, and the harness's functions run in the world they were compiled in,
#     so redefinitions by a program do not reach them.
# Not defended: code that deliberately digs into the process's memory (unsafe pointers, ccall),
# which marks the worker as tainted but can in principle forge anything.
#
# Isolation between jobs (the process is reused, so this matters):
#   * every job gets a fresh anonymous module and a fresh Task (fresh task-local storage, so
#     Test's testset stack starts empty);
#   * ENV, cwd, ARGS, LOAD_PATH, the global RNG and BigFloat precision are snapshotted and
#     restored;
#   * anything that could change shared state we cannot restore (a method added to a function
#     the job does not own, e.g. `Base.:+(::Int, ::Int)`, or use of eval/ccall/Main) marks the
#     worker as tainted: the job's result stands, and the Python side replaces the worker
#     before it runs another job. The method check is sound: every method definition bumps the
#     world counter, and we count only the bumps we can attribute to the job's own functions.
# Usage: julia julia_worker.jl --req-fd N --resp-fd N [--memory-mb M] [--once]

using Test
using Random

const ONCE = "--once" in ARGS
argvalue(flag, default) = (i = findfirst(==(flag), ARGS); i === nothing ? default : ARGS[i + 1])
# Requests come on their own pipe (--req-fd); the jobs' stdin is /dev/null, so a program that
# reads stdin (readline()) gets EOF instead of eating the request stream.
# (Read with plain read(2) and our own buffer: Julia 1.5's IOStream loses bytes on a pipe when
# readline() and read(io, n) are mixed.)
mutable struct RawReader
    fd::Cint
    buf::Vector{UInt8}
end
"Read more bytes into the buffer; false at end of input."
function fill!(r::RawReader)
    chunk = Vector{UInt8}(undef, 1 << 16)
    while true
        n = ccall(:read, Cssize_t, (Cint, Ptr{UInt8}, Csize_t), r.fd, chunk, length(chunk))
        if n > 0
            append!(r.buf, view(chunk, 1:n))
            return true
        elseif n == 0
            return false
        elseif Libc.errno() != Libc.EINTR
            return false
        end
    end
end
"The next line without its newline; nothing at end of input."
function next_line(r::RawReader)
    while true
        i = findfirst(==(UInt8('\n')), r.buf)
        if i !== nothing
            line = String(r.buf[1:i-1])
            deleteat!(r.buf, 1:i)
            return line
        end
        fill!(r) || return nothing
    end
end
"Exactly n bytes as a String; nothing at end of input."
function next_bytes(r::RawReader, n::Int)
    while length(r.buf) < n
        fill!(r) || return nothing
    end
    out = String(r.buf[1:n])
    deleteat!(r.buf, 1:n)
    return out
end
const JOBDIR = abspath("job")
const HOME_DIR = pwd()
const TEST_MACROS = Tuple(Symbol.(["@test", "@testset", "@test_throws", "@test_broken", "@test_skip",
                                   "@test_logs", "@test_warn", "@test_nowarn", "@inferred",
                                   "@test_deprecated"]))
# Names whose use in a job's code may reach state outside its module: the job still runs, but
# the worker is recycled afterwards.
const RISKY_NAMES = (:Main, :eval, :ccall, :cglobal, :unsafe_store!, :unsafe_pointer_to_objref,
                         :pointer_from_objref, :include, :include_string, :setglobal!, :Libdl,
                         :atexit, :Distributed, :Threads, :Timer, :Task, :schedule,
                         :task_local_storage, :setrounding, :disable_sigint,
                         Symbol("@eval"), Symbol("@async"), Symbol("@spawn"), Symbol("@threads"),
                         Symbol("@everywhere"), Symbol("@ccall"), :delete_method)
# (ENV, cwd, ARGS, LOAD_PATH, the global RNG, BigFloat precision and stdout/stderr are restored
# after every job, so using them does not taint; a method added to a Base function is caught by
# the world-counter check below.)

# Tests decide pass/fail with these: a program that shadows them in its module, or adds methods
# to them (or to Test's functions) for types it does not own, is tampering with the verdict.
const VERDICT_NAMES = (:(==), :(!=), :≈, :isapprox, :isequal, :isless, :<, :>, :<=, :>=, :!,
                       :all, :any, :isnothing, :ismissing, :identity, :Test, :in, :∈, :∉, :cmp)
# Comparisons: a call of one of these (or a call handed one, e.g. broadcast(==, a, b)) decides a
# verdict, so its arguments must not hold values of the program's own types.
const VERDICT_FUNCS = (==, !=, isequal, isapprox, isless, cmp, <, >, <=, >=, !, &, |, xor, in, ∉,
                       issubset, all, any, startswith, endswith, occursin)

# ---------------------------------------------------------------- tiny JSON writer (no stdlib JSON)
function json_escape(io::IO, s::AbstractString)
    print(io, '"')
    for c in s
        if c == '"'
            print(io, "\\\"")
        elseif c == '\\'
            print(io, "\\\\")
        elseif c == '\n'
            print(io, "\\n")
        elseif c == '\r'
            print(io, "\\r")
        elseif c == '\t'
            print(io, "\\t")
        elseif c < ' ' || !isvalid(c)
            print(io, "\\u", string(isvalid(c) ? UInt16(c) : 0xfffd, base=16, pad=4))
        else
            print(io, c)
        end
    end
    print(io, '"')
end
json_value(io::IO, x::AbstractString) = json_escape(io, x)
json_value(io::IO, x::Bool) = print(io, x ? "true" : "false")
json_value(io::IO, x::Integer) = print(io, x)
json_value(io::IO, x::AbstractFloat) = print(io, isfinite(x) ? string(x) : "null")
json_value(io::IO, ::Nothing) = print(io, "null")
function json_line(pairs)
    io = IOBuffer()
    print(io, '{')
    first = true
    for (k, v) in pairs
        first || print(io, ',')
        first = false
        json_escape(io, string(k))
        print(io, ':')
        json_value(io, v)
    end
    print(io, "}\n")
    return String(take!(io))
end
function respond(io::IO, pairs)
    write(io, json_line(pairs))
    flush(io)
end

# ---------------------------------------------------------------- parsing
struct ParseFailure
    message::String
end

"Parse a whole file into top-level expressions; a ParseFailure on a syntax error."
function parse_all(src::AbstractString, filename::AbstractString)
    exprs = Any[]
    pos = firstindex(src)
    line = 1
    while true
        # skip whitespace/comments the parser would return as `nothing`
        ex, newpos = try
            Meta.parse(src, pos; greedy=true, raise=true)
        catch err
            msg = err isa Meta.ParseError ? err.msg : sprint(showerror, err)
            return ParseFailure("$filename: syntax error: $msg")
        end
        if ex === nothing
            break
        end
        if ex isa Expr && (ex.head === :error || ex.head === :incomplete)
            return ParseFailure("$filename: syntax error: $(ex.args[1])")
        end
        push!(exprs, ex)
        newpos > lastindex(src) && break
        pos = newpos
    end
    return exprs
end

"Replace `@test`-family macro names by absolute references, so a job cannot shadow them."
pin_test_macros(x) = x
function pin_test_macros(ex::Expr)
    args = Any[pin_test_macros(a) for a in ex.args]
    if ex.head === :macrocall && args[1] isa Symbol && any(==(args[1]), TEST_MACROS)
        args[1] = GlobalRef(Test, args[1])
    end
    return Expr(ex.head, args...)
end

has_test_macro(x) = false
has_test_macro(ex::Expr) = (ex.head === :macrocall && ex.args[1] isa Symbol && any(==(ex.args[1]), TEST_MACROS)) ||
                           any(has_test_macro, ex.args)

uses_risky(x) = false
uses_risky(s::Symbol) = any(==(s), RISKY_NAMES)
uses_risky(q::QuoteNode) = uses_risky(q.value)
uses_risky(ex::Expr) = any(uses_risky, ex.args)

# ---------------------------------------------------------------- error classification
root_error(err) = err isa LoadError ? root_error(err.error) : err
function error_kind(err)
    e = root_error(err)
    e isa OutOfMemoryError && return "memory"
    e isa ErrorException && startswith(e.msg, "syntax:") && return "syntax"
    e isa Meta.ParseError && return "syntax"
    e isa AssertionError && return "assertion"
    return "runtime"
end
short_error(err) = first(sprint(showerror, root_error(err)), 2000)

# ---------------------------------------------------------------- counting errors outside a @test
"Failures and errors a testset tree recorded (the @test sites record their own, privately)."
function tree_problems(ts::Test.DefaultTestSet)
    f, e = 0, 0
    for r in ts.results
        if r isa Test.DefaultTestSet
            cf, ce = tree_problems(r)
            f += cf; e += ce
        elseif r isa Test.Fail
            f += 1
        elseif r isa Test.Error
            e += 1
        end
    end
    return f, e
end
function has_memory_error(ts::Test.DefaultTestSet)
    for r in ts.results
        if r isa Test.DefaultTestSet
            has_memory_error(r) && return true
        elseif r isa Test.Error && occursin("OutOfMemoryError", string(r.value))
            return true
        end
    end
    return false
end
function first_failure(ts::Test.DefaultTestSet)
    for r in ts.results
        if r isa Test.DefaultTestSet
            m = first_failure(r)
            m === nothing || return m
        elseif r isa Test.Fail
            return "Test Failed: $(r.orig_expr)" * (r.data === nothing ? "" : " (evaluated: $(r.data))")
        elseif r isa Test.Error
            return "Test Errored: $(r.orig_expr): " * first(string(r.value), 1000)
        end
    end
    return nothing
end

# ---------------------------------------------------------------- whose types and methods
"Is module `m` the job's module `M` or one of its submodules?"
function within(m::Module, M::Module)
    while true
        m === M && return true
        p = parentmodule(m)
        p === m && return false
        m = p
    end
end

mentions_module(x, M) = false
mentions_module(T::DataType, M) = within(T.name.module, M) || any(p -> mentions_module(p, M), T.parameters)
mentions_module(T::UnionAll, M) = mentions_module(Base.unwrap_unionall(T), M)
mentions_module(T::Union, M) = mentions_module(T.a, M) || mentions_module(T.b, M)
@static if isdefined(Core, :TypeofVararg)     # Julia ≥ 1.7: Vararg is no longer a type
    mentions_module(T::Core.TypeofVararg, M) = isdefined(T, :T) && mentions_module(T.T, M)
end

"""Does type `T` involve a type whose behaviour the program extended (a type name in `ext`, itself
or a supertype, or in a parameter)?"""
extended_type(T, ext) = false
function extended_type(T::DataType, ext)
    S = T
    while true
        S.name in ext && return true
        S === Any && break
        S = supertype(S)
    end
    return any(p -> extended_type(p, ext), T.parameters)
end
extended_type(T::UnionAll, ext) = extended_type(Base.unwrap_unionall(T), ext)
extended_type(T::Union, ext) = extended_type(T.a, ext) || extended_type(T.b, ext)

"""Does value `x` hold (deeply) a value of a type whose behaviour the program extended? Walks
containers whose type does not already tell, up to a budget; a value too large to walk counts as
holding one."""
function extended_value(x, ext, budget::Base.RefValue{Int}=Ref(100_000), seen::IdDict{Any,Nothing}=IdDict{Any,Nothing}())
    isempty(ext) && return false
    (budget[] -= 1) < 0 && return true
    x isa Type && return extended_type(x, ext)
    T = typeof(x)
    extended_type(T, ext) && return true
    isbitstype(T) && return false
    (x isa AbstractString || x isa Symbol || x isa Module || x isa Number) && return false
    haskey(seen, x) && return false
    seen[x] = nothing
    if x isa AbstractArray
        E = eltype(x)
        (isbitstype(E) || E <: AbstractString) && return false
        for v in x
            extended_value(v, ext, budget, seen) && return true
        end
        return false
    elseif x isa AbstractDict
        for (k, v) in x
            (extended_value(k, ext, budget, seen) || extended_value(v, ext, budget, seen)) && return true
        end
        return false
    elseif x isa AbstractSet
        for v in x
            extended_value(v, ext, budget, seen) && return true
        end
        return false
    end
    for i in 1:nfields(x)
        isdefined(x, i) && extended_value(getfield(x, i), ext, budget, seen) && return true
    end
    return false
end

# Methods on these only format or hash a value: they cannot make two values compare equal.
const OUTPUT_FUNCS = (show, print, println, display, summary, repr, string, sprint, hash)

"Add to `out` the names of the job's types that a signature mentions."
job_type_names!(out, T, M) = out
function job_type_names!(out, T::DataType, M)
    within(T.name.module, M) && push!(out, T.name)
    foreach(p -> job_type_names!(out, p, M), T.parameters)
    return out
end
job_type_names!(out, T::UnionAll, M) = job_type_names!(out, Base.unwrap_unionall(T), M)
job_type_names!(out, T::Union, M) = (job_type_names!(out, T.a, M); job_type_names!(out, T.b, M))

"""A new method `m` of a function the job does not own: piracy (no job type in its signature:
returns :piracy), an extension of the job's types (adds their names to `ext`; output-only
functions aside), or the job's own constructor (nothing to note)."""
function classify_foreign!(ext, m::Method, M::Module)
    mentions_module(m.sig, M) || return :piracy
    sig = Base.unwrap_unionall(m.sig)
    f = sig.parameters[1]
    # (::Type{JobType})(...): the job's own constructor
    f isa DataType && f <: Type && length(f.parameters) == 1 && mentions_module(f.parameters[1], M) && return :own
    for g in OUTPUT_FUNCS
        f === typeof(g) && return :output
    end
    job_type_names!(ext, sig, M)
    return :extension
end

# The method table of `Type` holds every constructor; the one of non-function types every call
# overload (`(p::P)(x) = ...`). Both are large: visited through Base's compiled reflection only.
struct _Probe end
const TYPE_MT = typeof(Type).name.mt
const NONFUNCTION_MT = _Probe.name.mt

"Methods of a table defined after world `w0` (Base's compiled MethodList does the visiting)."
function count_new(mt::Core.MethodTable, w0::UInt)
    n = 0
    for m in Base.MethodList(mt).ms
        m.primary_world > w0 && (n += 1)
    end
    return n
end

"Count methods defined after world `w0` on functions/types the job's module owns."
function own_new_methods(M::Module, w0::UInt)
    n = 0
    seen = Base.IdSet{Any}()
    for name in names(M, all=true, imported=false)
        isdefined(M, name) || continue
        v = getfield(M, name)
        if v isa Function && parentmodule(v) === M
            mt = typeof(v).name.mt
            mt in seen && continue
            push!(seen, mt)
            n += count_new(mt, w0)
            isdefined(mt, :kwsorter) && (n += count_new(typeof(mt.kwsorter).name.mt, w0))
        elseif v isa Type
            u = Base.unwrap_unionall(v)
            (u isa DataType && u.name.module === M) || continue
            # constructors (found in the table of Type by Base's own lookup)
            for m in methods(v)
                m.primary_world > w0 && (n += 1)
            end
            # closures and function types have tables of their own
            if isdefined(u.name, :mt) && u.name.mt !== TYPE_MT && u.name.mt !== NONFUNCTION_MT && !(u.name.mt in seen)
                push!(seen, u.name.mt)
                n += count_new(u.name.mt, w0)
            end
        end
    end
    # call overloads of the job's types
    for m in Base.MethodList(NONFUNCTION_MT).ms
        m.primary_world > w0 && mentions_module(m.sig, M) && (n += 1)
    end
    return n
end

"Names of the functions a piece of code defines methods for (`f`, `Base.show`, `Base.:(==)`)."
function defined_names!(out::Vector{Any}, ex)
    ex isa Expr || return out
    if ex.head in (:function, :(=)) && length(ex.args) >= 1
        sig = ex.args[1]
        while sig isa Expr && sig.head in (:where, :(::))
            sig = sig.args[1]
        end
        if sig isa Expr && sig.head === :call && length(sig.args) >= 1
            name = sig.args[1]
            name isa Expr && name.head === :curly && (name = name.args[1])
            is_path(name) && push!(out, name)
        end
    end
    for a in ex.args
        defined_names!(out, a)
    end
    return out
end
is_path(x) = x isa Symbol
is_path(q::QuoteNode) = q.value isa Symbol
is_path(ex::Expr) = ex.head === :. && length(ex.args) == 2 && is_path(ex.args[1]) && is_path(ex.args[2])

"New methods (after `w0`) on foreign functions the code names (`Base.show(io, ::P)`): (count,
first method whose signature mentions no type of the job, i.e. type piracy, or nothing); the
names of the job's types these methods extend are added to `ext`."
function named_foreign_methods(M::Module, w0::UInt, code_ex, ext)
    names = Any[]
    for ex in code_ex
        defined_names!(names, ex)
    end
    n = 0
    seen = Set{Any}()
    pirate = nothing
    for name in names
        f = try
            Core.eval(M, name)
        catch
            continue
        end
        (f isa Function && parentmodule(f) !== M) || continue
        mt = typeof(f).name.mt
        mt in seen && continue
        push!(seen, mt)
        for m in Base.MethodList(mt).ms
            if m.primary_world > w0
                n += 1
                classify_foreign!(ext, m, M) === :piracy && pirate === nothing && (pirate = m)
            end
        end
    end
    return n, pirate
end

"Every module reachable from Core, Base, Main and the loaded packages."
function all_modules()
    seen = Set{Module}()
    todo = Module[Core, Base, Main]
    append!(todo, Base.loaded_modules_array())
    while !isempty(todo)
        m = pop!(todo)
        m in seen && continue
        push!(seen, m)
        for n in names(m, all=true, imported=true)
            isdefined(m, n) || continue
            v = try getfield(m, n) catch; continue end
            v isa Module && !(v in seen) && push!(todo, v)
        end
    end
    return seen
end

"""The first method added after `w0`, in any reachable method table outside the job's modules,
whose signature mentions no type of the job (type piracy, wherever and however it was defined),
or nothing; the names of the job's types that the other new methods extend are added to `ext`."""
function find_piracy(M::Module, w0::UInt, ext)
    tables = Set{Any}()
    found = nothing
    consider(mt) = (mt in tables || (push!(tables, mt); Base.visit(mt) do m
        if m.primary_world > w0 && classify_foreign!(ext, m, M) === :piracy && found === nothing
            found = m
        end
    end))
    consider(typeof(Type).name.mt)
    for mod in all_modules()
        within(mod, M) && continue
        for nm in names(mod, all=true, imported=true)
            isdefined(mod, nm) || continue
            v = try getfield(mod, nm) catch; continue end
            if v isa Function
                tn = typeof(v).name
                isdefined(tn, :mt) && consider(tn.mt)
                isdefined(tn, :mt) && isdefined(tn.mt, :kwsorter) && consider(typeof(tn.mt.kwsorter).name.mt)
            elseif v isa Type
                u = Base.unwrap_unionall(v)
                u isa DataType && isdefined(u.name, :mt) && consider(u.name.mt)
            end
        end
        found === nothing || break
    end
    return found
end

"""(piracy, explained, ext): checks the world-counter bumps since `w0`. Fast path: the job's own
method tables and the foreign functions its code names explain every bump. Otherwise every
reachable table is scanned. `piracy` is a description of a method for types the job does not own
(or nothing); `explained` is false when bumps remain unexplained (anonymous functions elsewhere):
harmless to the verdict, but the worker is not reused; `ext` holds the names of the job's types
whose behaviour some foreign function was extended for (their values may not decide a verdict)."""
function check_methods(M::Module, w0::UInt, code_ex)
    ext = Set{Core.TypeName}()
    delta = Int(Base.get_world_counter() - w0)
    delta == 0 && return nothing, true, ext
    own = own_new_methods(M, w0)
    named, pirate = named_foreign_methods(M, w0, code_ex, ext)
    pirate === nothing || return string(pirate), false, ext
    delta <= own + named && return nothing, true, ext
    pirate = find_piracy(M, w0, ext)
    return pirate === nothing ? nothing : string(pirate), false, ext
end

"A verdict name the job's module binds to something of its own (e.g. its own `==`)."
function shadowed_verdict_name(M::Module)
    for n in VERDICT_NAMES
        isdefined(M, n) || continue
        Base.binding_module(M, n) === M && return n
    end
    return nothing
end

# ---------------------------------------------------------------- judging the tests, privately
"What the guard throws when a comparison's arguments hold the program's own values."
struct Untrusted <: Exception
    what::String
end
Base.showerror(io::IO, e::Untrusted) = print(io, "the program's own values decide a comparison: ", e.what)

"Caught inside a @test site (the harness's own wrapper type for an exception)."
struct Caught
    err::Any
    bt::Any
end

is_verdict(f) = any(g -> g === f, VERDICT_FUNCS)

"""The per-job judge: closures over local state (site counts, the tamper flag, the last compared
values), handed to the rewritten tests as values. The program cannot name any of it. `ext` names
the program's types whose behaviour it extended: their values may not decide a comparison."""
function make_judge(M::Module, ext0::Set{Core.TypeName}, refresh)
    # methods the program adds while the tests run (eval in its functions) count too: `ext` is
    # recomputed whenever the world counter moved since it was last computed
    ext_now = Ref(ext0)
    ext_world = Ref(Base.get_world_counter())
    function ext()
        w = Base.get_world_counter()
        if w != ext_world[]
            ext_now[] = union(ext_now[], refresh())
            ext_world[] = w
        end
        return ext_now[]
    end
    runs = Int[]; passes = Int[]; fails = Int[]; errors = Int[]
    # the number of sites is known once the tests are rewritten
    function sites!(n)
        for v in (runs, passes, fails, errors)
            resize!(v, n); Base.fill!(v, 0)
        end
        return n
    end
    tamper = Ref{Any}(nothing)
    first_msg = Ref("")
    memory = Ref(false)
    last_args = Ref{Any}(nothing)
    # A comparison is the program's own doing when a value whose behaviour the program extended
    # meets a value of another kind (`Evil() == 3`, `[Evil()] == [3]`, `3 in [Evil()]`), or is
    # the only value of a negation / all / any. Two such values compared with each other
    # (`isless(Person(..), Person(..))`, the program's own comparison under test) are not.
    function untrusted(f, args)
        e = ext()
        isempty(e) && return false                 # the program extended nothing: nothing to check
        (is_verdict(f) || any(is_verdict, args)) || return false
        flags = Bool[extended_value(a, e) for a in args if !(a isa Function)]
        any(flags) || return false
        return length(flags) == 1 || !all(flags)
    end
    function flag(f, args)
        what = "$(f)($(join((summary(a) for a in args), ", ")))"
        tamper[] === nothing && (tamper[] = what)
        throw(Untrusted(what))
    end
    function guard(f, args...)
        untrusted(f, args) && flag(f, args)
        last_args[] = args
        return f(args...)
    end
    function guard_kw(kw, f, args...)
        untrusted(f, args) && flag(f, args)
        return f(args...; kw...)
    end
    function note!(k, msg)
        isempty(first_msg[]) && (first_msg[] = first(msg, 2000))
    end
    function record(k::Int, orig, v)
        runs[k] += 1
        if v isa Caught
            errors[k] += 1
            v.err isa OutOfMemoryError && (memory[] = true)
            note!(k, "Test Errored: $(orig): " * first(sprint(showerror, v.err), 1000))
        elseif v === true
            passes[k] += 1
        elseif v === false
            fails[k] += 1
            a = last_args[]
            note!(k, "Test Failed: $(orig)" * (a === nothing ? "" : " (evaluated: $(join(map(repr, a), ", ")))"))
        else
            errors[k] += 1
            note!(k, "Test Errored: $(orig): expression evaluated to non-Boolean $(summary(v))")
        end
        last_args[] = nothing
        return nothing
    end
    function record_throws(k::Int, orig, expected, v)
        runs[k] += 1
        ok = v isa Caught && (expected isa Type ? v.err isa expected :
                              typeof(v.err) === typeof(expected) &&
                              all(i -> isequal(getfield(v.err, i), getfield(expected, i)), 1:nfields(expected)))
        if ok
            passes[k] += 1
        else
            fails[k] += 1
            note!(k, "Test Failed: $(orig): expected $(expected) to be thrown" *
                     (v isa Caught ? ", got $(first(sprint(showerror, v.err), 500))" : ", nothing was thrown"))
        end
        return nothing
    end
    counts() = (runs=copy(runs), passes=sum(passes), fails=sum(fails), errors=sum(errors),
                never=count(==(0), runs), tamper=tamper[], message=first_msg[], memory=memory[])
    return (guard=guard, guard_kw=guard_kw, record=record, record_throws=record_throws, counts=counts, sites! = sites!)
end

# ---------------------------------------------------------------- rewriting the tests
const NO_REWRITE = (:function, :macro, :struct, :module, :quote, :abstract, :primitive, :using,
                    :import, :export, :const, :global, :local, :meta, :line, :toplevel)

"Rewrite every call in `ex` into a call through the judge's guard (comparisons are checked)."
guarded(x, J) = x
function guarded(ex::Expr, J)
    h = ex.head
    h in NO_REWRITE && return ex
    if h === :macrocall
        name = ex.args[1]
        # @assert's condition is judged like any other; other macros are left alone
        if name === Symbol("@assert") && length(ex.args) >= 3
            return Expr(:macrocall, name, ex.args[2], guarded(ex.args[3], J), ex.args[4:end]...)
        end
        return ex
    elseif h === :(=)
        lhs = ex.args[1]
        # a definition `f(x) = ...` inside the tests is left as it is
        (lhs isa Expr && lhs.head in (:call, :where, :(::))) && return ex
        return Expr(:(=), lhs, guarded(ex.args[2], J))
    elseif h === :->
        return Expr(:->, ex.args[1], guarded(ex.args[2], J))
    elseif h === :do
        call, lambda = ex.args[1], ex.args[2]
        lam = Expr(:->, lambda.args[1], guarded(lambda.args[2], J))
        call isa Expr && call.head === :call || return ex
        return guard_call(call.args[1], Any[lam, call.args[2:end]...], J)
    elseif h === :comparison
        # a < b <= c  →  each pair through the guard; every operand is evaluated once
        ops = ex.args
        syms = [gensym("c") for _ in 1:2:length(ops)]
        binds = [Expr(:(=), syms[i], guarded(ops[2i - 1], J)) for i in eachindex(syms)]
        tests = [Expr(:call, J.guard, guarded(ops[2i], J), syms[i], syms[i + 1]) for i in 1:length(syms) - 1]
        cond = foldr((a, b) -> Expr(:&&, a, b), tests)
        return Expr(:let, Expr(:block), Expr(:block, binds..., cond))
    elseif h === :call
        f = ex.args[1]
        if f isa Symbol && startswith(string(f), ".") && length(string(f)) > 1 && f !== :..
            # a dotted operator: a .== b  →  broadcast(==, a, b)
            op = Symbol(string(f)[2:end])
            return guard_call(Base.broadcast, Any[op, ex.args[2:end]...], J)
        end
        return guard_call(f, ex.args[2:end], J)
    elseif h === :. && length(ex.args) == 2 && ex.args[2] isa Expr && ex.args[2].head === :tuple
        # f.(x, y)  →  broadcast(f, x, y)
        return guard_call(Base.broadcast, Any[ex.args[1], ex.args[2].args...], J)
    end
    return Expr(h, map(a -> guarded(a, J), ex.args)...)
end

function guard_call(f, args, J)
    params = [a for a in args if a isa Expr && a.head === :parameters]
    kws = [a for a in args if a isa Expr && a.head === :kw]
    pos = [guarded(a, J) for a in args if !(a isa Expr && a.head in (:parameters, :kw))]
    f = f isa Expr ? guarded(f, J) : f
    if isempty(params) && isempty(kws)
        return Expr(:call, J.guard, f, pos...)
    end
    kwexprs = Any[]
    for p in params, a in p.args
        push!(kwexprs, a isa Expr && a.head === :kw ? Expr(:call, :(=>), QuoteNode(a.args[1]), guarded(a.args[2], J)) :
                       a isa Symbol ? Expr(:call, :(=>), QuoteNode(a), a) : a)
    end
    for a in kws
        push!(kwexprs, Expr(:call, :(=>), QuoteNode(a.args[1]), guarded(a.args[2], J)))
    end
    return Expr(:call, J.guard_kw, Expr(:tuple, Expr(:parameters, Expr(:..., Expr(:tuple, kwexprs...)))), f, pos...)
end

is_macro(name, m::Symbol) = name === m || (name isa GlobalRef && name.name === m) ||
                            (name isa Expr && name.head === :. && name.args[end] == QuoteNode(m))

"""Turn every @test / @test_throws of a `using Test` file into a site of the judge:
`@test ex kw...` → `record(k, ex, try guarded(ex kw...) catch e Caught(e) end)`."""
function rewrite_sites(ex, J, n::Base.RefValue{Int}, guard_on::Bool=true)
    ex isa Expr || return ex
    ex.head === :quote && return ex
    if ex.head === :macrocall
        name = ex.args[1]
        rest = [a for a in ex.args[2:end] if !(a isa LineNumberNode)]
        if is_macro(name, Symbol("@test")) && !isempty(rest)
            k = (n[] += 1)
            body = rest[1]
            kws = rest[2:end]
            if !isempty(kws) && body isa Expr && body.head === :call
                body = Expr(:call, body.args..., [a isa Expr && a.head === :(=) ? Expr(:kw, a.args...) : a for a in kws]...)
            end
            err = gensym("err")
            return Expr(:call, J.record, k, QuoteNode(rest[1]),
                        Expr(:try, Expr(:block, guard_on ? guarded(body, J) : body), err,
                             Expr(:block, Expr(:call, Caught, err, Expr(:call, Base.catch_backtrace)))))
        elseif is_macro(name, Symbol("@test_throws")) && length(rest) >= 2
            k = (n[] += 1)
            err = gensym("err")
            return Expr(:call, J.record_throws, k, QuoteNode(rest[2]), rest[1],
                        Expr(:try, Expr(:block, rest[2], nothing), err,
                             Expr(:block, Expr(:call, Caught, err, nothing))))
        end
        # @testset and friends: rewrite inside (their bodies hold the sites)
        return Expr(:macrocall, map(a -> rewrite_sites(a, J, n, guard_on), ex.args)...)
    end
    return Expr(ex.head, map(a -> rewrite_sites(a, J, n, guard_on), ex.args)...)
end

# ---------------------------------------------------------------- one job
function run_job(code::String, tests::String, style::String)
    res = Dict{String,Any}("phase" => "parse_code", "error_kind" => nothing, "message" => "",
                           "passed" => 0, "failed" => 0, "errored" => 0, "taint" => "")
    code_ex = parse_all(code, "program")
    if code_ex isa ParseFailure
        res["error_kind"] = "syntax"; res["message"] = code_ex.message
        return res
    end
    res["phase"] = "parse_tests"
    test_ex = parse_all(tests, "tests")
    if test_ex isa ParseFailure
        res["error_kind"] = "syntax"; res["message"] = test_ex.message
        return res
    end
    if any(uses_risky, code_ex) || any(uses_risky, test_ex)
        res["taint"] = "uses names that can reach shared state"
    end
    M = Module(:Job)
    w0 = Base.get_world_counter()
    # what `module … end` would give it: its own eval and include
    Core.eval(M, :(eval(x) = Core.eval($M, x)))
    Core.eval(M, :(include(path) = Base.include($M, path)))
    Core.eval(M, :(using Test))
    res["phase"] = "load"
    for ex in code_ex
        try
            Core.eval(M, ex)
        catch err
            res["error_kind"] = error_kind(err); res["message"] = short_error(err)
            # a program that fails while loading has usually defined some methods first: when
            # its own tables explain them, the worker is still clean and is reused
            pirate, explained, _ = check_methods(M, w0, code_ex)
            pirate === nothing || (res["taint"] = "type piracy")
            res["methods_explained"] = explained
            return res
        end
    end
    shadow = shadowed_verdict_name(M)
    if shadow !== nothing
        res["error_kind"] = "tamper"
        res["message"] = "the program redefines `$shadow`, which the tests use to judge it"
        return res
    end
    pirate, _, ext = check_methods(M, w0, code_ex)
    if pirate !== nothing
        res["error_kind"] = "tamper"; res["taint"] = "type piracy"
        res["message"] = "the program adds a method for types it does not own (it can change what the tests compute): $pirate"
        return res
    end
    res["phase"] = "tests"
    J = make_judge(M, ext, () -> check_methods(M, w0, code_ex)[3])
    # Comparisons need guarding only when the program extended some foreign function for its
    # types; one that extends one while the tests run (eval from inside its functions) is caught
    # after them (below)
    guard_on = !isempty(ext)
    style == "script" ? run_script_tests!(res, M, test_ex, J, guard_on) : run_testsets!(res, M, test_ex, J, guard_on)
    pirate, explained, ext_after = check_methods(M, w0, code_ex)
    res["methods_explained"] = explained
    grown = setdiff(ext_after, ext)
    if pirate === nothing && !isempty(grown) && res["error_kind"] != "tamper"
        res["error_kind"] = "tamper"; res["taint"] = "extended foreign functions while the tests ran"
        res["message"] = "the program extended foreign functions for its type(s) $(join(string.(getfield.(collect(grown), :name)), ", ")) while the tests ran"
    end
    if pirate !== nothing
        res["error_kind"] = "tamper"; res["taint"] = "type piracy"
        res["message"] = "the program adds a method for types it does not own (it can change what the tests compute): $pirate"
    end
    c = J.counts()
    if c.tamper !== nothing && res["error_kind"] != "tamper"
        res["error_kind"] = "tamper"
        res["message"] = "the program's own values decide a comparison in the tests: $(c.tamper)"
    end
    return res
end

"A plain script (e.g. @assert lines): the whole file counts as one test."
function run_script_tests!(res, M::Module, test_ex, J, guard_on::Bool)
    for ex in test_ex
        try
            Core.eval(M, guard_on ? guarded(ex, J) : ex)
        catch err
            kind = error_kind(err)
            res["message"] = short_error(err)
            if kind == "assertion"
                res["failed"] = 1
            else
                res["errored"] = 1
                kind == "memory" && (res["error_kind"] = "memory")
            end
            return res
        end
    end
    res["passed"] = 1
    return res
end

"`using Test` files: every @test / @test_throws is a site of the judge; a site that never ran
counts as failed; errors outside the sites come from the testset tree (which only adds failures)."
function run_testsets!(res, M::Module, test_ex, J, guard_on::Bool)
    ts = Test.DefaultTestSet("rarelang")
    Test.push_testset(ts)
    outside = 0
    outside_msg = ""
    n = Ref(0)
    sited = Any[rewrite_sites(pin_test_macros(ex), J, n, guard_on) for ex in test_ex]
    J.sites!(n[])
    try
        for ex in sited
            try
                Core.eval(M, ex)
            catch err
                # an error outside any @test (a top-level statement of the test file)
                if !(root_error(err) isa Test.TestSetException)
                    outside += 1
                    isempty(outside_msg) && (outside_msg = "Error outside a @test: " * short_error(err))
                    root_error(err) isa OutOfMemoryError && (res["error_kind"] = "memory")
                end
            end
        end
    finally
        try Test.pop_testset() catch end
    end
    c = J.counts()
    tf, te = tree_problems(ts)
    res["passed"] = c.passes
    res["failed"] = c.fails + c.never + tf
    res["errored"] = c.errors + te + outside
    (c.memory || has_memory_error(ts)) && (res["error_kind"] = "memory")
    msg = !isempty(c.message) ? c.message :
          c.never > 0 ? "$(c.never) of $(length(c.runs)) @test(s) never ran" :
          something(first_failure(ts), outside_msg)
    isempty(msg) || (res["message"] = first(msg, 2000))
    return res
end

# ---------------------------------------------------------------- process state snapshot/restore
struct Snapshot
    env::Dict{String,String}
    args::Vector{String}
    load_path::Vector{String}
    rng::Any                  # MersenneTwister on 1.5, Xoshiro (task-local) on ≥ 1.7
    bigprec::Int
end
snapshot() = Snapshot(Dict(ENV), copy(ARGS), copy(LOAD_PATH), copy(Random.GLOBAL_RNG), precision(BigFloat))
function restore!(s::Snapshot)
    for k in collect(keys(ENV))
        haskey(s.env, k) || delete!(ENV, k)
    end
    for (k, v) in s.env
        get(ENV, k, nothing) == v || (ENV[k] = v)
    end
    empty!(ARGS); append!(ARGS, s.args)
    empty!(LOAD_PATH); append!(LOAD_PATH, s.load_path)
    copy!(Random.GLOBAL_RNG, s.rng)
    setprecision(BigFloat, s.bigprec)
    cd(HOME_DIR)
end

function clean_jobdir()
    isdir(JOBDIR) && rm(JOBDIR; force=true, recursive=true)
    mkpath(JOBDIR)
end

function execute(nonce::String, style::String, code::String, tests::String)
    clean_jobdir()
    snap = snapshot()
    w_before = Base.get_world_counter()
    out = open(joinpath(JOBDIR, "stdout"), "w")
    err = open(joinpath(JOBDIR, "stderr"), "w")
    old_out, old_err = stdout, stderr
    res = Dict{String,Any}()
    t0 = time()
    try
        cd(JOBDIR)
        redirect_stdout(out)
        redirect_stderr(err)
        task = Task(() -> run_job(code, tests, style))
        schedule(task)
        res = fetch(task)
    catch e
        res = Dict{String,Any}("phase" => "harness", "error_kind" => "runtime",
                               "message" => "harness: " * short_error(e), "passed" => 0,
                               "failed" => 0, "errored" => 0, "taint" => "harness error")
    finally
        try flush(stdout) catch end
        try flush(stderr) catch end
        redirect_stdout(old_out)
        redirect_stderr(old_err)
        close(out); close(err)
    end
    restore!(snap)
    taint = get(res, "taint", "")
    delta = Base.get_world_counter() - w_before
    explained = get(res, "methods_explained", nothing)
    if isempty(taint) && delta > 0 && explained !== true
        taint = explained === false ? "defined method(s) outside its own module" : "stopped before the method check"
    end
    res["taint"] = taint
    res["seconds"] = time() - t0
    res["nonce"] = nonce
    if res["error_kind"] == "memory"
        res["taint"] = "memory exhausted"   # the heap may stay large: start afresh
    end
    delete!(res, "methods_explained")
    return res
end

# ---------------------------------------------------------------- warm-up and serve loop
const WARMUP_CODE = """
struct Pt; x::Int; end
f(x) = x + 1
g(v::Vector{Int}) = sum(v) * 2
h(s::String) = uppercase(s)
"""
const WARMUP_TESTS = """
using Test
@testset "warm" begin
    @test f(1) == 2
    @test g([1, 2]) == 6
    @test h("a") == "A"
    @test f(1) == 3
    @test_throws MethodError f("x")
    @test error("boom")
    @test isapprox(0.1 + 0.2, 0.3)
    @test Pt(1).x == 1
end
"""

function vmsize_kb()
    for line in eachline("/proc/self/status")
        startswith(line, "VmSize:") && return parse(Int, split(line)[2])
    end
    return 0
end

"Cap our address space at (current size + mb MiB); Python cannot prlimit us without privileges."
function limit_memory!(mb::Int)
    mb <= 0 && return 0
    lim = UInt64(vmsize_kb()) * 1024 + UInt64(mb) * 1024 * 1024
    rl = UInt64[lim, lim]
    rc = ccall(:setrlimit, Cint, (Cint, Ptr{UInt64}), 9, rl)   # 9 = RLIMIT_AS on Linux
    return rc == 0 ? Int(lim) : -1
end


function serve()
    # the channels are locals: nothing a job can name reaches them
    resp = open(RawFD(parse(Int, argvalue("--resp-fd", "3"))))
    req = RawReader(parse(Cint, argvalue("--req-fd", "0")), UInt8[])
    mkpath(JOBDIR)
    # warm-up: compile Test's machinery once, in this process, before the first real job
    # (skipped by a one-job worker: that is the fresh-process baseline)
    ONCE || execute("warmup", "test", WARMUP_CODE, WARMUP_TESTS)
    as_limit = limit_memory!(parse(Int, argvalue("--memory-mb", "0")))
    respond(resp, ["ready" => true, "pid" => Int(getpid()), "vmsize_kb" => vmsize_kb(),
             "as_limit" => as_limit, "julia" => string(VERSION)])
    while true
        header = next_line(req)
        header === nothing && break
        parts = split(header)
        isempty(parts) && continue
        parts[1] == "QUIT" && break
        if parts[1] != "JOB" || length(parts) != 6
            respond(resp, ["nonce" => "", "phase" => "harness", "error_kind" => "runtime",
                     "message" => "bad request header: " * first(header, 200)])
            continue
        end
        nonce, style = String(parts[2]), String(parts[3])
        # parts[4] is the timeout: the Python side enforces it for Julia (kills the worker)
        code = next_bytes(req, parse(Int, parts[5]))
        tests = next_bytes(req, parse(Int, parts[6]))
        (code === nothing || tests === nothing) && break
        res = execute(nonce, style, code, tests)
        respond(resp, collect(res))
        ONCE && break
    end
end

serve()
