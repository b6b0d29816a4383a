// ledgerd's web console (issue 17): HTTPS on --console-listen, in ledgerd's process and event
// loop, with the server's TLS identity (the ledger's CA in D/tls) but no client certificate
// asked of the browser. README "Web console".
//
// Sign-in: an actor connected over RPC (mutual TLS, as ever) asks for a one-time URL
// (LedgerSession.consoleLogin, `ledgerctl console-login`); opening it in a browser gives that
// browser a session cookie for the actor, so the browser never holds the actor's private key.
// Login tokens are single use and live login_seconds; sessions live session_seconds. Both are
// kept in memory only: a restart of ledgerd signs everyone out. Every request looks its actor
// up in the ledger again (a deactivated actor is refused at once) and is scoped as the RPC calls
// are (access.h).
//
// Routes: GET /login?token=T[&next=/PAGE] (sets the cookie, redirects to next or /), the pages
// (files of web_dir: *.html, *.js, *.css) and the JSON API under /api/ (whoami, household,
// trace, totals, roll, recoveries; and console_evidence.h's household-proof, checkpoints, verify
// and trace.csv); POST /api/reconcile (a bank result file reconciled and, by a finance officer,
// recorded), POST /api/verify and POST /logout. Every POST needs the header X-Ledger-Console: 1
// (against cross-site requests), or 403. Without a valid session: 401 and the sign-in page (or
// its JSON).
// Used on the event loop's thread only.
#pragma once

#include <kj/async-io.h>
#include <kj/compat/tls.h>
#include <kj/timer.h>

#include <functional>
#include <memory>
#include <string>

#include "access.h"

namespace ledgerd {

struct ConsoleOptions {
  std::string listen;       // HOST:PORT of the console (--console-listen).
  std::string web_dir;      // The pages (--console-dir; default the source tree's web/console).
  std::string rpc_address;  // HOST:PORT of RPC, for the sign-in page's instructions.
  uint32_t session_seconds = 8 * 3600;
  uint32_t login_seconds = 120;
};

// Runs a read for `actor` on a reader thread (LedgerServer::Read): the actor looked up again,
// refused if deactivated.
using ConsoleRead = std::function<kj::Promise<std::shared_ptr<Reply>>(const std::string& actor, ReadFn fn)>;
using ConsoleLog = std::function<void(const char* level, const std::string& event, const std::string& fields)>;

class Console {
 public:
  Console(ConsoleOptions options, kj::Timer& timer, ConsoleRead read, ConsoleLog log);
  ~Console();

  // Serves HTTPS on `receiver` (listening already: its port is the URLs') with `tls`, which must
  // not verify clients. The promise runs until the console stops (destroy it to stop).
  kj::Promise<void> Serve(kj::Own<kj::ConnectionReceiver> receiver, kj::TlsContext& tls);

  // A one-time sign-in URL for `actor` ("https://HOST:PORT/login?token=T"), valid login_seconds.
  // IOError if no random bytes could be had.
  ledger::Status IssueLogin(const std::string& actor, std::string* url);
  const ConsoleOptions& options() const;
  // The console's writes (bank results recorded) run through `write`, on the writer thread
  // (LedgerServer::Write); without it the console refuses them. Set before serving.
  void SetWrite(ConsoleRead write);

  struct Impl;  // console.cc

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace ledgerd
