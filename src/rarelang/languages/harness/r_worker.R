# rarelang R worker: a warm R process (testthat + jsonlite loaded once) that runs
# (program, tests) jobs, each in a forked child.
#
# Protocol (see rarelang/sandbox/protocol.py):
#   request  on the fd given by --req-fd: "JOB <nonce> <style> <timeout_s> <n_code_bytes> <n_test_bytes>\n" + code + tests
#                       or "QUIT\n"
#   response on the fd given by --resp-fd: one JSON line per job (the ready line first)
#
# Isolation: every job runs in a child forked from this process (parallel::mcparallel), so
# globals, options(), Sys.setenv(), setwd(), attached packages, the RNG and even
# assignInNamespace() die with the child. The child closes stdin and the response fd before
# any of the job's code runs; it prints into files in ./job/ (R-level sinks). Wall-clock
# timeout: the child and, inside a private PID namespace (RARELANG_PIDNS=1), every other process
# the job started are killed; this worker lives on.
#
# Judging (the reward must survive RL pressure, so nothing the program does may decide a verdict):
#   * the whole harness lives in a local environment: the global environment (where a program's
#     `<<-` and assign(envir = globalenv()) land) holds nothing of ours;
#   * every expectation of a testthat file is rewritten into a site of a per-job judge that
#     counts its own outcomes (testthat's reporter, which the program can reach, only reports
#     errors outside the sites); a skip counts as a failure; a site that never ran counts as
#     failed; the child's result carries a per-job token (a forged result sent through the fork's
#     channel lacks it);
#   * comparisons in the tests (==, !=, <, !, isTRUE, identical, all.equal, all, any, %in%, the
#     comparing expectations, stopifnot) go through a guard: a value whose class the program gave
#     S3/S4 methods for generics it does not own (all.equal.<class>, compare.<class>, Ops.<class>,
#     `!.<class>`, defined at top level, assigned into the global environment or registered with
#     registerS3method, or an S4 class of its own) that meets a value of another kind (or is the
#     only value of a negation) makes the job count as tampering. Two such values compared with
#     each other (the program's own comparison under test) are fine;
#   * a program that defines, in its own or the global environment, a function the tests judge
#     with (`all.equal <- function(...) TRUE`), or modifies base/testthat functions in place, is
#     tampering.
# Not defended: code that deliberately walks the call stack (sys.frames()) into the harness's
# frames to read the token or rewrite the judge's state.
# Usage: Rscript r_worker.R --req-fd N --resp-fd N [--memory-mb M] [--once]

local({
suppressPackageStartupMessages({
  library(testthat)
  library(jsonlite)
  library(parallel)
})

args <- commandArgs(trailingOnly = TRUE)
arg_value <- function(flag, default) {
  i <- match(flag, args)
  if (is.na(i)) default else args[[i + 1L]]
}
ONCE <- "--once" %in% args
REQ_CON <- NULL
RESP_FD <- as.integer(arg_value("--resp-fd", "3"))
REQ_FD <- as.integer(arg_value("--req-fd", "0"))
RESP_PATH <- sprintf("/dev/fd/%d", RESP_FD)
PIDNS <- identical(Sys.getenv("RARELANG_PIDNS"), "1")
HOME_DIR <- getwd()
# Pin testthat's edition: without a DESCRIPTION file testthat searches for one on every
# test_that() call (~0.3 s each). Edition 2 is what `Rscript tests.R` gives outside a package.
local_edition(as.integer(Sys.getenv("RARELANG_TESTTHAT_EDITION", "2")), .env = globalenv())
JOBDIR <- file.path(HOME_DIR, "job")

respond <- function(x) {
  line <- as.character(toJSON(x, auto_unbox = TRUE, null = "null", digits = NA))
  cat(line, "\n", file = RESP_PATH, sep = "", append = TRUE)
}

# ---------------------------------------------------------------- framework bindings
# Bound into every tests environment so that a program cannot shadow them.
PINNED <- local({
  keep <- grep("^(test_that|expect_|skip|context|describe|it$|fail$|succeed$|local_edition|setup$|teardown$)",
               getNamespaceExports("testthat"), value = TRUE)
  vals <- lapply(keep, function(n) getExportedValue("testthat", n))
  names(vals) <- keep
  vals
})
EXPECTATIONS <- grep("^expect_", names(PINNED), value = TRUE)
# expectations that compare a value with an expected one (their arguments go through the guard)
COMPARING <- intersect(c("expect_equal", "expect_identical", "expect_equivalent", "expect_true",
                         "expect_false", "expect_setequal", "expect_mapequal", "expect_gt", "expect_lt",
                         "expect_gte", "expect_lte", "expect_length", "expect_match"), EXPECTATIONS)

# Tests decide pass/fail with these. A program that defines its own (e.g. `all.equal <- function(...)
# TRUE`, which the tests' environment would otherwise find first) is tampering with the verdict.
VERDICT_NAMES <- c("all.equal", "isTRUE", "isFALSE", "identical", "stopifnot", "==", "!=", "<",
                   ">", "<=", ">=", "!", "&&", "||", "&", "|", "all", "any", "is.null", "is.na",
                   "stop", "tryCatch", "inherits", "test_that", "library", "require",
                   "signalCondition", "withCallingHandlers", "%in%", "setequal", "xor", "is.element")
# the comparisons whose arguments the guard checks
GUARDED <- c("==", "!=", "<", ">", "<=", ">=", "!", "&", "|", "xor", "isTRUE", "isFALSE", "identical",
             "all.equal", "all", "any", "%in%", "is.element", "setequal")
# S3 generics that only format a value: methods for them cannot make values compare equal
OUTPUT_GENERICS <- c("print", "format", "summary", "str", "toString")
GROUP_GENERICS <- c("Ops", "Math", "Summary", "Complex", "matrixOps")
# ... and modifying them (or the testthat code they run) in place, e.g. with unlockBinding() or
# assignInNamespace(), is caught by comparing with the objects this worker loaded: the functions
# the judge can reach, i.e. the expectations and test_that and every testthat function their
# bodies call (transitively), and base's comparison functions with their S3 methods.
reachable_testthat <- function(roots) {
  ns <- asNamespace("testthat")
  all_fun <- ls(ns, all.names = TRUE)
  all_fun <- all_fun[vapply(all_fun, function(n) is.function(get(n, envir = ns)), logical(1))]
  seen <- character(0); todo <- intersect(roots, all_fun)
  while (length(todo)) {
    n <- todo[[1]]; todo <- todo[-1L]
    if (n %in% seen) next
    seen <- c(seen, n)
    f <- get(n, envir = ns)
    called <- intersect(unique(c(all.names(body(f)), all.names(as.call(c(quote(f), formals(f)))))), all_fun)
    todo <- c(todo, setdiff(called, seen))
    # S3 methods of a testthat generic are reached by dispatch, not by name
    if (any(all.names(body(f)) == "UseMethod")) todo <- c(todo, setdiff(grep(paste0("^", gsub(".", "\\.", n, fixed = TRUE), "\\."), all_fun, value = TRUE), seen))
  }
  seen
}
ORIGINALS <- local({
  base_names <- intersect(VERDICT_NAMES, ls(baseenv(), all.names = TRUE))
  base_names <- unique(c(base_names, grep("^(all\\.equal|Ops|isTRUE|identical|anyNA|Summary)", ls(baseenv(), all.names = TRUE), value = TRUE)))
  tt <- reachable_testthat(c(grep("^expect_|^test_that$|^succeed$|^fail$|^expect$|^exp_signal$|^expectation", getNamespaceExports("testthat"), value = TRUE),
                             "exp_signal", "expectation", "expect", "compare", "test_code", "with_reporter"))
  list(base = mget(base_names, envir = baseenv()),
       testthat = mget(tt, envir = asNamespace("testthat")))
})

shadowed_judge <- function(env) {
  for (e in list(env, globalenv())) {
    own <- intersect(VERDICT_NAMES, ls(e, all.names = TRUE))
    # only functions shadow a call (a variable called `library` does not)
    own <- own[vapply(own, function(n) is.function(get(n, envir = e)), logical(1))]
    if (length(own)) return(paste0("the program defines `", own[[1]], "`, which the tests use to judge it"))
  }
  NULL
}
tampered_with <- function(env) {
  shadow <- shadowed_judge(env)
  if (!is.null(shadow)) return(shadow)
  for (n in names(ORIGINALS$base)) {
    if (!identical(get(n, envir = baseenv()), ORIGINALS$base[[n]])) {
      return(paste0("the program modified base `", n, "`"))
    }
  }
  ns <- asNamespace("testthat")
  for (n in names(ORIGINALS$testthat)) {
    if (!identical(get0(n, envir = ns, inherits = FALSE), ORIGINALS$testthat[[n]])) {
      return(paste0("the program modified testthat's `", n, "`"))
    }
  }
  NULL
}

# ---------------------------------------------------------------- whose classes
# S3 method tables of every loaded namespace, as this worker started (a child compares against it)
S3_ENVS <- NULL          # the tables as the worker started (a job that loads a namespace adds one)
s3_table_envs <- function() {
  if (!is.null(S3_ENVS) && length(loadedNamespaces()) == length(S3_ENVS$loaded)) return(S3_ENVS$envs)
  out <- list()
  for (ns in loadedNamespaces()) {
    tbl <- get0(".__S3MethodsTable__.", envir = asNamespace(ns), inherits = FALSE)
    if (is.environment(tbl)) out[[ns]] <- tbl
  }
  out
}
s3_tables <- function() lapply(s3_table_envs(), ls, all.names = TRUE)
s3_sizes <- function() vapply(s3_table_envs(), length, integer(1))
s3_size <- function() sum(s3_sizes())
S3_BEFORE <- list()          # set after the warm-up (packages loaded lazily are in by then)
S3_SIZES_BEFORE <- integer(0)
# the S3 registrations made since the worker started (only tables whose size changed are looked
# at), less those a package namespace makes for itself when it loads (vctrs, glue... are loaded
# lazily when a failure is formatted): a registration counts as the program's unless a loaded
# namespace declares that method and registered its own function
new_s3_entries <- function() {
  sizes <- s3_sizes()
  before <- S3_SIZES_BEFORE[names(sizes)]
  changed <- names(sizes)[is.na(before) | sizes != before]
  if (!length(changed)) return(character(0))
  envs <- s3_table_envs()
  out <- character(0)
  declared <- NULL
  for (ns in changed) {
    tbl <- envs[[ns]]
    for (nm in setdiff(ls(tbl, all.names = TRUE), S3_BEFORE[[ns]])) {
      if (is.null(declared)) declared <- declared_s3()
      hit <- declared[declared$name == nm, , drop = FALSE]
      f <- get(nm, envir = tbl)
      ok <- FALSE
      for (i in seq_len(nrow(hit))) {
        if (identical(get0(hit$method[i], envir = asNamespace(hit$pkg[i]), inherits = FALSE), f)) { ok <- TRUE; break }
      }
      if (!ok) out <- c(out, nm)
    }
  }
  out
}
declared_s3 <- function() {
  rows <- lapply(loadedNamespaces(), function(pkg) {
    info <- tryCatch(getNamespaceInfo(pkg, "S3methods"), error = function(e) NULL)
    if (!is.matrix(info) || !NROW(info) || NCOL(info) < 3L) return(NULL)
    data.frame(pkg = pkg, name = paste(as.character(info[, 1]), as.character(info[, 2]), sep = "."),
               method = as.character(info[, 3]), stringsAsFactors = FALSE)
  })
  do.call(rbind, c(rows, list(data.frame(pkg = character(0), name = character(0), method = character(0)))))
}

# generics defined outside the program (base, loaded packages, testthat...): every function name
# on the search path after the global environment, taken once (after the warm-up)
FOREIGN_GENERICS <- new.env(hash = TRUE)
foreign_generics <- function() {
  nms <- unlist(lapply(seq_along(search())[-1L], function(i) ls(pos.to.env(i), all.names = TRUE)), use.names = FALSE)
  e <- new.env(hash = TRUE, size = length(nms) + 10L)
  for (n in unique(c(nms, GROUP_GENERICS))) assign(n, TRUE, envir = e)
  e
}

# Classes the program gave methods for foreign generics: every split `generic.class` of the
# names of functions it created (own and global environment, new S3 registrations), plus its S4
# classes. Formatting-only generics aside.
extended_classes <- function(env, globals_before) {
  is_fun <- function(e, nms) nms[vapply(nms, function(n) is.function(get0(n, envir = e, inherits = FALSE)), logical(1))]
  env_names <- ls(env, all.names = TRUE)
  glob_names <- setdiff(ls(globalenv(), all.names = TRUE), globals_before)
  own <- grep(".", env_names, fixed = TRUE, value = TRUE)
  glob <- grep(".", glob_names, fixed = TRUE, value = TRUE)
  s3 <- if (identical(s3_sizes(), S3_SIZES_BEFORE)) character(0) else new_s3_entries()
  cand <- unique(c(is_fun(env, own), is_fun(globalenv(), glob), s3))
  s4 <- if (any(startsWith(c(env_names, glob_names), ".__C__")))
    tryCatch(c(methods::getClasses(env), methods::getClasses(globalenv())), error = function(e) character(0))
  else character(0)
  if (!length(cand)) return(unique(s4))
  # every (generic, class) split at a dot, vectorised
  pos <- gregexpr(".", cand, fixed = TRUE)
  idx <- rep(seq_along(cand), lengths(pos))
  at <- unlist(pos, use.names = FALSE)
  keep <- at > 1L
  idx <- idx[keep]; at <- at[keep]
  g <- substr(cand[idx], 1L, at - 1L)
  cls <- substring(cand[idx], at + 1L)
  foreign <- vapply(g, exists, logical(1), envir = FOREIGN_GENERICS, inherits = FALSE, USE.NAMES = FALSE)
  ok <- nzchar(cls) & !(g %in% OUTPUT_GENERICS) & foreign
  unique(c(cls[ok], s4))
}

# Does value x hold (deeply) a value of one of the classes in `cls`?
holds_class <- function(x, cls, budget = new.env()) {
  if (is.null(budget$n)) budget$n <- 10000L
  budget$n <- budget$n - 1L
  if (budget$n < 0L) return(TRUE)
  if (isS4(x) && any(is(x) %in% cls)) return(TRUE)
  if (is.object(x) && any(oldClass(x) %in% cls)) return(TRUE)
  if (is.list(x) && !is.environment(x)) {
    for (v in x) if (holds_class(v, cls, budget)) return(TRUE)
  }
  a <- attributes(x)
  a$names <- NULL; a$class <- NULL; a$dim <- NULL; a$dimnames <- NULL; a$row.names <- NULL
  for (v in a) if (holds_class(v, cls, budget)) return(TRUE)
  FALSE
}

untrusted_condition <- function(msg) {
  structure(class = c("rarelang_untrusted", "error", "condition"), list(message = msg, call = NULL))
}
assertion_condition <- function(msg) {
  structure(class = c("rarelang_assertion", "error", "condition"), list(message = msg, call = NULL))
}

error_kind <- function(msg) {
  if (grepl("cannot allocate|memory exhausted|vector memory|protect\\(\\): protection stack", msg)) "memory" else "runtime"
}

# ---------------------------------------------------------------- the per-job judge
# Closures over a private environment: the site counts, the tamper note, the classes the
# program extended. Handed to the tests environment under names the program does not see.
make_judge <- function(env, globals_before, n_sites) {
  st <- new.env()
  st$runs <- integer(n_sites); st$passes <- integer(n_sites); st$fails <- integer(n_sites)
  st$errors <- integer(n_sites); st$tamper <- NULL; st$first <- ""; st$memory <- FALSE
  st$cls <- character(0)
  st$fingerprint <- NULL
  refresh <- function() {
    # methods the program defines while the tests run count too
    fp <- c(length(env), length(globalenv()), s3_size())
    if (!identical(fp, st$fingerprint)) {      # first use, or the program defined more since
      st$cls <- unique(c(st$cls, extended_classes(env, globals_before)))
      st$fingerprint <- fp
    }
    st$cls
  }
  check <- function(what, vals) {
    cls <- refresh()
    if (!length(cls)) return(invisible())
    vals <- Filter(Negate(is.function), vals)
    flags <- vapply(vals, function(v) holds_class(v, cls), logical(1))
    if (any(flags) && (length(flags) == 1L || !all(flags))) {
      classes <- unique(unlist(lapply(vals, function(v) intersect(class(v), cls))))
      msg <- paste0(what, "() on a value of class ", paste(classes, collapse = "/"),
                    " whose methods the program defined")
      if (is.null(st$tamper)) st$tamper <- msg
      stop(untrusted_condition(paste("the program's own values decide a comparison:", msg)))
    }
    invisible()
  }
  guarded <- function(name, f) {
    force(name); force(f)
    function(...) {
      vals <- list(...)
      check(name, vals)
      # values, not expressions: quoted only when one is itself a language object
      do.call(f, vals, quote = any(vapply(vals, is.language, logical(1))), envir = parent.frame())
    }
  }
  note <- function(msg) if (!nzchar(st$first)) st$first <- substr(msg, 1, 2000)
  # one site: an expectation of the tests, evaluated here; its conditions are counted here
  site <- function(k, expr) {
    st$runs[k] <- st$runs[k] + 1L
    got <- character(0)
    msgs <- character(0)
    out <- tryCatch(withCallingHandlers({ expr; "done" },
      expectation = function(x) {
        kind <- if (inherits(x, "expectation_success")) "success" else if (inherits(x, "expectation_skip")) "skip"
                else if (inherits(x, "expectation_error")) "error" else "failure"
        got <<- c(got, kind)
        if (kind != "success") msgs <<- c(msgs, conditionMessage(x))
        # counted here, not by testthat: go on after it (testthat 3 names this restart
        # continue_test, earlier versions muffle_expectation)
        for (nm in c("continue_test", "muffle_expectation")) {
          r <- findRestart(nm)
          if (!is.null(r)) invokeRestart(r)
        }
      }),
      skip = function(e) { msgs <<- c(msgs, paste("skipped:", conditionMessage(e))); "skip" },
      error = function(e) {
        if (inherits(e, "rarelang_untrusted") && is.null(st$tamper)) st$tamper <- conditionMessage(e)
        msgs <<- c(msgs, conditionMessage(e)); e
      })
    if (identical(out, "done") && length(got) && all(got == "success")) {
      st$passes[k] <- st$passes[k] + 1L
    } else if (inherits(out, "error") || "error" %in% got) {
      st$errors[k] <- st$errors[k] + 1L
      if (any(vapply(msgs, error_kind, character(1)) == "memory")) st$memory <- TRUE
      note(paste("Error:", msgs[1]))
    } else {
      st$fails[k] <- st$fails[k] + 1L
      note(if (length(msgs)) paste("Failure:", msgs[1]) else "Failure: the expectation recorded nothing")
    }
    invisible()
  }
  list(site = site, guarded = guarded, check = check, st = st)
}

# stopifnot for MultiPL-E style scripts: an argument that errors is a runtime error of the
# program; an argument that is not all TRUE is a failed assertion. Its values go through the guard.
make_stopifnot <- function(judge, guard = TRUE) {
  function(..., exprs, exprObject, local = TRUE) {
    if (!missing(exprs) || !missing(exprObject)) {
      return(tryCatch(base::stopifnot(exprs = exprs),
                      error = function(e) stop(assertion_condition(conditionMessage(e)))))
    }
    vals <- list(...)
    call <- sys.call()
    for (i in seq_along(vals)) {
      v <- vals[[i]]
      if (guard) judge$check("stopifnot", list(v))
      if (!(is.logical(v) && !is.object(v) && length(v) > 0 && !anyNA(v) && base::all(unclass(v)))) {
        what <- paste(deparse(call[[i + 1L]], nlines = 1L), collapse = "")
        stop(assertion_condition(paste(substr(what, 1, 300), "is not TRUE")))
      }
    }
    invisible()
  }
}

# Rewrite the tests: each call of an expectation becomes `.__rarelang_site__(k, <the call>)`.
SITE_FN <- ".__rarelang_site__"
rewrite_sites <- function(e, counter) {
  if (is.call(e)) {
    f <- e[[1]]
    fname <- if (is.name(f)) as.character(f) else if (is.call(f) && length(f) == 3L &&
              as.character(f[[1]]) %in% c("::", ":::") && identical(as.character(f[[2]]), "testthat"))
              as.character(f[[3]]) else ""
    if (fname %in% c("quote", "bquote", "~")) return(e)
    if (fname == "function") {           # a function the tests define: its body may hold sites
      if (length(e) >= 3L) e[[3]] <- rewrite_sites(e[[3]], counter)
      return(e)
    }
    parts <- as.list(e)
    for (i in seq_along(parts)) {
      a <- parts[[i]]
      if (!missing(a) && !is.null(a)) parts[[i]] <- rewrite_sites(a, counter)
    }
    inner <- as.call(parts)
    if (fname %in% c(EXPECTATIONS, "fail", "succeed")) {
      counter$n <- counter$n + 1L
      return(call(SITE_FN, counter$n, inner))
    }
    return(inner)
  }
  e
}

# ---------------------------------------------------------------- one job (in the child)
run_job <- function(code, tests, style, env_box = new.env()) {
  res <- list(phase = "parse_code", error_kind = NULL, message = "",
              passed = 0L, failed = 0L, errored = 0L)
  code_ex <- tryCatch(parse(text = code, keep.source = FALSE), error = function(e) e)
  if (inherits(code_ex, "error")) {
    res$error_kind <- "syntax"
    res$message <- paste("program: syntax error:", conditionMessage(code_ex))
    return(res)
  }
  res$phase <- "parse_tests"
  test_ex <- tryCatch(parse(text = tests, keep.source = FALSE), error = function(e) e)
  if (inherits(test_ex, "error")) {
    res$error_kind <- "syntax"
    res$message <- paste("tests: syntax error:", conditionMessage(test_ex))
    return(res)
  }
  globals_before <- ls(globalenv(), all.names = TRUE)
  env <- new.env(parent = globalenv())
  env_box$env <- env
  env_box$globals_before <- globals_before
  res$phase <- "load"
  for (ex in code_ex) {
    err <- tryCatch({ eval(ex, env); NULL }, error = function(e) e, skip = function(e) e)
    if (!is.null(err)) {
      msg <- conditionMessage(err)
      res$error_kind <- error_kind(msg)
      res$message <- substr(paste("program:", msg), 1, 2000)
      return(res)
    }
  }
  # shadowing a judge (all.equal <- function(...) TRUE) stops here; modifications of base or
  # testthat in place are looked for once, after the tests (run_child)
  tamper <- shadowed_judge(env)
  if (!is.null(tamper)) {
    res$error_kind <- "tamper"
    res$message <- tamper
    return(res)
  }
  res$phase <- "tests"
  counter <- new.env(); counter$n <- 0L
  sited <- if (style == "script") as.list(test_ex) else lapply(as.list(test_ex), rewrite_sites, counter = counter)
  judge <- make_judge(env, globals_before, counter$n)
  env_box$judge <- judge
  tenv <- new.env(parent = env)
  for (n in names(PINNED)) assign(n, PINNED[[n]], envir = tenv)
  # comparisons need guarding only when the program gave some class methods for foreign
  # generics; one that does so while the tests run is caught after them
  cls_before <- extended_classes(env, globals_before)
  if (length(cls_before)) {
    for (n in COMPARING) assign(n, judge$guarded(n, PINNED[[n]]), envir = tenv)
    for (n in GUARDED) assign(n, judge$guarded(n, get(n, envir = baseenv())), envir = tenv)
  }
  assign("stopifnot", make_stopifnot(judge, guard = length(cls_before) > 0L), envir = tenv)
  assign(SITE_FN, judge$site, envir = tenv)

  if (style == "script") {
    for (ex in sited) {
      err <- tryCatch({ eval(ex, tenv); NULL }, error = function(e) e,
                      skip = function(e) structure(class = c("skip", "condition"),
                                                   list(message = paste("skipped:", conditionMessage(e)))))
      if (!is.null(err)) {
        msg <- conditionMessage(err)
        res$message <- substr(msg, 1, 2000)
        if (inherits(err, "rarelang_untrusted")) {
          res$error_kind <- "tamper"
          res$message <- substr(msg, 1, 2000)
        } else if (inherits(err, "rarelang_assertion") || inherits(err, "skip")) {
          res$failed <- 1L
        } else {
          res$errored <- 1L
          if (error_kind(msg) == "memory") res$error_kind <- "memory"
        }
        if (!is.null(judge$st$tamper)) res$error_kind <- "tamper"
        return(res)
      }
    }
    res$passed <- 1L
    if (!is.null(judge$st$tamper)) {
      res$error_kind <- "tamper"; res$message <- judge$st$tamper
    }
    return(grown_check(res, env, globals_before, cls_before))
  }

  # testthat: the sites count themselves; testthat's reporter only adds the errors that happen
  # outside them (e.g. a statement of a test_that block), top-level errors are counted here
  reporter <- ListReporter$new()
  outside <- 0L; outside_msg <- ""
  with_reporter(reporter, {
    for (ex in sited) {
      err <- tryCatch({ eval(ex, tenv); NULL }, error = function(e) e, skip = function(e) NULL)
      if (!is.null(err)) {
        outside <- outside + 1L
        if (!nzchar(outside_msg)) outside_msg <- paste("Error:", conditionMessage(err))
        if (inherits(err, "rarelang_untrusted") && is.null(judge$st$tamper)) judge$st$tamper <- conditionMessage(err)
        if (error_kind(conditionMessage(err)) == "memory") res$error_kind <- "memory"
      }
    }
  }, start_end_reporter = TRUE)
  rep_errors <- 0L; rep_msg <- ""
  for (t in reporter$get_results()) {
    for (x in t$results) {
      if (inherits(x, "expectation_error")) {
        rep_errors <- rep_errors + 1L
        msg <- conditionMessage(x)
        if (!nzchar(rep_msg)) rep_msg <- paste0("Error (", t$test, "): ", msg)
        if (error_kind(msg) == "memory") res$error_kind <- "memory"
      }
    }
  }
  st <- judge$st
  never <- sum(st$runs == 0L)
  res$passed <- sum(st$passes)
  res$failed <- sum(st$fails) + never
  res$errored <- sum(st$errors) + rep_errors + outside
  if (st$memory) res$error_kind <- "memory"
  first <- if (nzchar(st$first)) st$first else if (never > 0L)
    sprintf("%d of %d expectation(s) never ran", never, length(st$runs)) else if (nzchar(rep_msg)) rep_msg else outside_msg
  res$message <- substr(first, 1, 2000)
  if (!is.null(st$tamper)) {
    res$error_kind <- "tamper"; res$message <- substr(st$tamper, 1, 2000)
  }
  grown_check(res, env, globals_before, cls_before)
}

# classes the program gave foreign methods while the tests ran: they were not guarded
grown_check <- function(res, env, globals_before, cls_before) {
  grown <- setdiff(extended_classes(env, globals_before), cls_before)
  if (length(grown) && !identical(res$error_kind, "tamper")) {
    res$error_kind <- "tamper"
    res$message <- paste("the program gave class(es)", paste(grown, collapse = ", "),
                         "methods for foreign generics while the tests ran")
  }
  res
}

run_child <- function(code, tests, style, token) {
  # nothing of the job's may talk to the Python side directly
  parallel:::closeFD(c(0L, REQ_FD, RESP_FD))
  try(close(REQ_CON), silent = TRUE)
  setwd(JOBDIR)
  out <- file(file.path(JOBDIR, "stdout"), open = "wt")
  err <- file(file.path(JOBDIR, "stderr"), open = "wt")
  sink(out)
  sink(err, type = "message")
  on.exit({
    sink(type = "message")
    sink()
    close(out)
    close(err)
  })
  options(warn = 1)
  env_box <- new.env()
  res <- run_job(code, tests, style, env_box)
  if (identical(res$phase, "tests") && !identical(res$error_kind, "tamper")) {
    tamper <- tampered_with(env_box$env)
    if (!is.null(tamper)) {
      res$error_kind <- "tamper"
      res$message <- tamper
    }
  }
  res$completed <- TRUE
  res$token <- token
  res
}

# ---------------------------------------------------------------- process cleanup
kill_others <- function(child_pid) {
  try(tools::pskill(child_pid, tools::SIGKILL), silent = TRUE)
  if (!PIDNS) return(invisible())
  # inside our own PID namespace every process but pid 1 (bwrap) and us belongs to the job
  me <- Sys.getpid()
  pids <- suppressWarnings(as.integer(list.files("/proc", pattern = "^[0-9]+$")))
  pids <- pids[!is.na(pids) & pids != me & pids != 1L]
  if (length(pids)) try(tools::pskill(pids, tools::SIGKILL), silent = TRUE)
}

new_token <- function() paste(sprintf("%08x", sample.int(.Machine$integer.max, 4L)), collapse = "")

execute <- function(nonce, style, code, tests, timeout) {
  unlink(JOBDIR, recursive = TRUE, force = TRUE)
  dir.create(JOBDIR, showWarnings = FALSE)
  t0 <- Sys.time()
  token <- new_token()
  job <- mcparallel(run_child(code, tests, style, token), silent = TRUE, mc.set.seed = FALSE)
  got <- mccollect(job, wait = FALSE, timeout = timeout)
  timed_out <- is.null(got)
  if (timed_out) {
    kill_others(job$pid)
    got <- mccollect(job, wait = TRUE)
  } else if (PIDNS) {
    kill_others(job$pid)  # daemons the job left behind
  }
  res <- if (!is.null(got)) got[[1]] else NULL
  if (timed_out) {
    res <- list(phase = "tests", error_kind = "timeout", message = sprintf("timed out after %gs", timeout))
  } else if (inherits(res, "try-error")) {
    msg <- as.character(res)
    res <- list(phase = "harness", error_kind = error_kind(msg), message = substr(msg, 1, 2000))
  } else if (!is.list(res) || !isTRUE(res$completed)) {
    res <- list(phase = "exited", error_kind = "exited",
                message = "the program ended the process before its tests finished")
  } else if (!identical(res$token, token)) {
    res <- list(phase = "exited", error_kind = "tamper",
                message = "the program sent a result of its own through the worker's channel")
  }
  res$completed <- NULL
  res$token <- NULL
  res$nonce <- nonce
  res$seconds <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
  res$taint <- ""
  res
}

vmsize_kb <- function() {
  s <- readLines("/proc/self/status")
  as.numeric(strsplit(trimws(sub("VmSize:", "", grep("^VmSize:", s, value = TRUE))), " ")[[1]][1])
}

# Cap our address space at (current size + mb MiB); forked children inherit it. R has no
# setrlimit, and the Python side may lack the privilege to prlimit us, so util-linux's prlimit
# does it from inside the sandbox.
limit_memory <- function(mb) {
  if (mb <= 0) return(0)
  lim <- vmsize_kb() * 1024 + mb * 1024 * 1024
  rc <- suppressWarnings(system2("prlimit", c("--pid", Sys.getpid(), sprintf("--as=%.0f", lim)),
                                 stdout = FALSE, stderr = FALSE))
  if (identical(as.integer(rc), 0L)) lim else -1
}

serve <- function() {
  dir.create(JOBDIR, showWarnings = FALSE)
  con <- if (REQ_FD == 0L) file("stdin", open = "rb") else file(sprintf("/dev/fd/%d", REQ_FD), open = "rb")
  REQ_CON <<- con
  if (!ONCE) {  # a one-job worker (the fresh-process baseline) skips the warm-up
    # warm-up in this process (not in a child), so that lazily loaded testthat code is loaded
    # once here and every forked child inherits it
    warm <- file(file.path(JOBDIR, "warmup"), open = "wt")
    sink(warm); sink(warm, type = "message")
    # (a failure too: formatting it loads cli/glue/vctrs and their S3 registrations, which are
    # then the worker's own and not mistaken for a program's)
    wres <- list(
      run_job("f <- function(x) x + 1",
              paste("test_that('w', { expect_equal(f(1), 2); expect_equal(f(1), 3);",
                    "expect_error(stop('x')); expect_true(TRUE); expect_identical(f(1), 2);",
                    "expect_equal('a', 'b'); expect_equal(list(1), list(2)); expect_false(TRUE) })",
                    "expect_equal(f(2), 3)", sep = "\n"), "testthat"),
      run_job("f <- function(x) x", "stopifnot(isTRUE(all.equal(f(1), 1)))\nstopifnot(f(1) == 2)", "script"),
      run_job("f <- function(x) structure(x, class = 'w')\nOps.w <- function(e1, e2) TRUE",
              "stopifnot(f(1) == 2)", "script"))
    sink(type = "message"); sink(); close(warm)
    if (!identical(wres[[1]]$phase, "tests")) stop("the warm-up did not reach its tests: ", wres[[1]]$message)
  }
  S3_BEFORE <<- s3_tables()
  S3_SIZES_BEFORE <<- s3_sizes()
  S3_ENVS <<- list(loaded = loadedNamespaces(), envs = s3_table_envs())
  FOREIGN_GENERICS <<- foreign_generics()
  invisible(gc())
  as_limit <- limit_memory(as.numeric(arg_value("--memory-mb", "0")))
  respond(list(ready = TRUE, pid = Sys.getpid(), vmsize_kb = vmsize_kb(), as_limit = as_limit,
               r = paste(R.version$major, R.version$minor, sep = ".")))
  repeat {
    header <- readLines(con, n = 1L, warn = FALSE)
    if (length(header) == 0L) break
    parts <- strsplit(header, " ", fixed = TRUE)[[1]]
    if (length(parts) == 0L) next
    if (parts[[1]] == "QUIT") break
    if (parts[[1]] != "JOB" || length(parts) != 6L) {
      respond(list(nonce = "", phase = "harness", error_kind = "runtime",
                   message = paste("bad request header:", substr(header, 1, 200))))
      next
    }
    n_code <- as.integer(parts[[5]]); n_tests <- as.integer(parts[[6]])
    code <- if (n_code > 0L) readChar(con, n_code, useBytes = TRUE) else ""
    tests <- if (n_tests > 0L) readChar(con, n_tests, useBytes = TRUE) else ""
    Encoding(code) <- "UTF-8"; Encoding(tests) <- "UTF-8"
    res <- execute(parts[[2]], parts[[3]], code, tests, as.numeric(parts[[4]]))
    respond(res)
    if (ONCE) break
  }
}

serve()
})
