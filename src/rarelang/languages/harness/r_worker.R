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
# any of the job's code runs; it prints into files in ./job/ (R-level sinks). Counts come from
# testthat's own result objects (ListReporter) and travel back over mcparallel's pipe, so
# printing a fake summary or quitting early cannot make a job pass: a child that exits without
# sending a result is reported as such. Wall-clock timeout: the child and, inside a private PID
# namespace (RARELANG_PIDNS=1), every other process the job started are killed; this worker
# lives on.
# Usage: Rscript r_worker.R --req-fd N --resp-fd N [--memory-mb M] [--once]

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
  ns <- asNamespace("testthat")
  keep <- grep("^(test_that|expect_|skip|context|describe|it$|fail$|succeed$|local_edition|setup$|teardown$)",
               getNamespaceExports("testthat"), value = TRUE)
  vals <- lapply(keep, function(n) getExportedValue("testthat", n))
  names(vals) <- keep
  vals
})

# Tests decide pass/fail with these. A program that defines its own (e.g. `all.equal <- function(...)
# TRUE`, which the tests' environment would otherwise find first) is tampering with the verdict.
VERDICT_NAMES <- c("all.equal", "isTRUE", "isFALSE", "identical", "stopifnot", "==", "!=", "<",
                   ">", "<=", ">=", "!", "&&", "||", "&", "|", "all", "any", "is.null", "is.na",
                   "stop", "tryCatch", "inherits", "test_that", "library", "require",
                   "signalCondition", "withCallingHandlers")
# ... and modifying them (or testthat's internals) in place, e.g. with unlockBinding() or
# assignInNamespace(), is caught by comparing with the objects this worker loaded.
ORIGINALS <- local({
  base_names <- intersect(VERDICT_NAMES, ls(baseenv(), all.names = TRUE))
  list(base = mget(base_names, envir = baseenv()),
       testthat = as.list(asNamespace("testthat"), all.names = TRUE))
})
tampered_with <- function(env) {
  own <- intersect(VERDICT_NAMES, ls(env, all.names = TRUE))
  # only functions shadow a call (a variable called `library` does not)
  own <- own[vapply(own, function(n) is.function(get(n, envir = env)), logical(1))]
  if (length(own)) return(paste0("the program defines `", own[[1]], "`, which the tests use to judge it"))
  for (n in names(ORIGINALS$base)) {
    if (!identical(get(n, envir = baseenv()), ORIGINALS$base[[n]])) {
      return(paste0("the program modified base `", n, "`"))
    }
  }
  ns <- asNamespace("testthat")
  for (n in names(ORIGINALS$testthat)) {
    cur <- get0(n, envir = ns, inherits = FALSE)
    if (is.function(cur) && !identical(cur, ORIGINALS$testthat[[n]])) {
      return(paste0("the program modified testthat's `", n, "`"))
    }
  }
  NULL
}

assertion_condition <- function(msg) {
  structure(class = c("rarelang_assertion", "error", "condition"),
            list(message = msg, call = NULL))
}
# stopifnot for MultiPL-E style scripts: an argument that errors is a runtime error of the
# program; an argument that is not all TRUE is a failed assertion.
rl_stopifnot <- function(..., exprs, exprObject, local = TRUE) {
  if (!missing(exprs) || !missing(exprObject)) {
    return(tryCatch(base::stopifnot(exprs = exprs),
                    error = function(e) stop(assertion_condition(conditionMessage(e)))))
  }
  vals <- list(...)
  call <- sys.call()
  for (i in seq_along(vals)) {
    v <- vals[[i]]
    if (!(is.logical(v) && length(v) > 0 && !anyNA(v) && all(v))) {
      what <- paste(deparse(call[[i + 1L]], nlines = 1L), collapse = "")
      stop(assertion_condition(paste(substr(what, 1, 300), "is not TRUE")))
    }
  }
  invisible()
}

error_kind <- function(msg) {
  if (grepl("cannot allocate|memory exhausted|vector memory|protect\\(\\): protection stack", msg)) "memory" else "runtime"
}

# ---------------------------------------------------------------- one job (in the child)
count_list_reporter <- function(reporter) {
  p <- 0L; f <- 0L; e <- 0L; first <- ""; mem <- FALSE
  for (t in reporter$get_results()) {
    for (x in t$results) {
      if (inherits(x, "expectation_success")) {
        p <- p + 1L
      } else if (inherits(x, "expectation_failure")) {
        f <- f + 1L
        if (!nzchar(first)) first <- paste0("Failure (", t$test, "): ", conditionMessage(x))
      } else if (inherits(x, "expectation_error")) {
        e <- e + 1L
        msg <- conditionMessage(x)
        if (error_kind(msg) == "memory") mem <- TRUE
        if (!nzchar(first)) first <- paste0("Error (", t$test, "): ", msg)
      }
      # skips and warnings are not counted
    }
  }
  list(p = p, f = f, e = e, first = first, mem = mem)
}

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
  env <- new.env(parent = globalenv())
  env_box$env <- env
  res$phase <- "load"
  for (ex in code_ex) {
    err <- tryCatch({ eval(ex, env); NULL }, error = function(e) e)
    if (!is.null(err)) {
      msg <- conditionMessage(err)
      res$error_kind <- error_kind(msg)
      res$message <- substr(paste("program:", msg), 1, 2000)
      return(res)
    }
  }
  tamper <- tampered_with(env)
  if (!is.null(tamper)) {
    res$error_kind <- "tamper"
    res$message <- tamper
    return(res)
  }
  res$phase <- "tests"
  tenv <- new.env(parent = env)
  for (n in names(PINNED)) assign(n, PINNED[[n]], envir = tenv)
  assign("stopifnot", rl_stopifnot, envir = tenv)

  if (style == "script") {
    for (ex in test_ex) {
      err <- tryCatch({ eval(ex, tenv); NULL }, error = function(e) e)
      if (!is.null(err)) {
        msg <- conditionMessage(err)
        res$message <- substr(msg, 1, 2000)
        if (inherits(err, "rarelang_assertion")) {
          res$failed <- 1L
        } else {
          res$errored <- 1L
          if (error_kind(msg) == "memory") res$error_kind <- "memory"
        }
        return(res)
      }
    }
    res$passed <- 1L
    return(res)
  }

  # testthat: test_that blocks through a ListReporter; bare expectations outside blocks are
  # counted by a calling handler
  bare <- list(p = 0L, f = 0L, e = 0L, first = "")
  reporter <- ListReporter$new()
  with_reporter(reporter, {
    for (ex in test_ex) {
      err <- tryCatch(withCallingHandlers({ eval(ex, tenv); NULL },
        expectation = function(x) {
          if (inherits(x, "expectation_success")) {
            bare$p <<- bare$p + 1L
          } else if (inherits(x, "expectation_failure")) {
            bare$f <<- bare$f + 1L
            if (!nzchar(bare$first)) bare$first <<- paste("Failure:", conditionMessage(x))
          }
          if (!is.null(computeRestarts()[["muffle_expectation"]]) ||
              !is.null(findRestart("muffle_expectation"))) invokeRestart("muffle_expectation")
        }), error = function(e) e)
      if (!is.null(err)) {
        bare$e <- bare$e + 1L
        if (!nzchar(bare$first)) bare$first <- paste("Error:", conditionMessage(err))
      }
    }
  }, start_end_reporter = TRUE)
  c1 <- count_list_reporter(reporter)
  res$passed <- c1$p + bare$p
  res$failed <- c1$f + bare$f
  res$errored <- c1$e + bare$e
  if (c1$mem) res$error_kind <- "memory"
  first <- if (nzchar(c1$first)) c1$first else bare$first
  res$message <- substr(first, 1, 2000)
  res
}

run_child <- function(code, tests, style) {
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

execute <- function(nonce, style, code, tests, timeout) {
  unlink(JOBDIR, recursive = TRUE, force = TRUE)
  dir.create(JOBDIR, showWarnings = FALSE)
  t0 <- Sys.time()
  job <- mcparallel(run_child(code, tests, style), silent = TRUE, mc.set.seed = FALSE)
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
  }
  res$completed <- NULL
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
    try(run_job("f <- function(x) x + 1",
                paste("test_that('w', { expect_equal(f(1), 2); expect_equal(f(1), 3);",
                      "expect_error(stop('x')); expect_true(TRUE); expect_identical(f(1), 2) })",
                      "expect_equal(f(2), 3)"), "testthat"), silent = TRUE)
    try(run_job("f <- function(x) x", "stopifnot(isTRUE(all.equal(f(1), 1)))", "script"), silent = TRUE)
    sink(type = "message"); sink(); close(warm)
  }
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
