#include "client.h"

#include <fmt/format.h>

#include "tls_ca.h"

namespace ledgerd {

using ledger::Status;

struct Client::Io {
  kj::AsyncIoContext io = kj::setupAsyncIo();
};

namespace {
thread_local std::weak_ptr<Client::Io> thread_io;  // The event loop of this thread's Clients.
}  // namespace

Client::Client() {
  io_holder_ = thread_io.lock();
  if (!io_holder_) thread_io = io_holder_ = std::make_shared<Io>();
  io_ = &io_holder_->io;
}

// The connection goes before the event loop it runs on (members are destroyed in reverse order,
// io_holder_ last).
Client::~Client() = default;

Status Client::Connect(const std::string& host_port, const std::string& credential_path, std::unique_ptr<Client>* out) {
  Credential cred;
  Status s = ReadCredential(credential_path, &cred);
  if (!s.ok()) return s;
  std::unique_ptr<Client> c(new Client());
  KJ_IF_MAYBE (
      e, kj::runCatchingExceptions([&] {
        kj::TlsKeypair keypair{kj::TlsPrivateKey(cred.key_pem.c_str()), kj::TlsCertificate(cred.cert_pem.c_str())};
        kj::TlsCertificate ca(cred.ca_pem.c_str());
        kj::TlsContext::Options options;
        options.useSystemTrustStore = false;  // The server is pinned to the ledger's CA.
        options.trustedCertificates = kj::arrayPtr(&ca, 1);
        options.defaultKeypair = keypair;
        c->tls_ = kj::heap<kj::TlsContext>(kj::mv(options));
        auto& ws = c->io_->waitScope;
        auto address = c->io_->provider->getNetwork().parseAddress(host_port).wait(ws);
        auto raw = address->connect().wait(ws);
        c->stream_ = c->tls_->wrapClient(kj::mv(raw), kServerName).wait(ws);
        // TwoPartyClient, but for the reader's limit: the answers come from the server just
        // authenticated, and may be larger than the default 64 MiB.
        capnp::ReaderOptions reader;
        reader.traversalLimitInWords = kMaxAnswerBytes / sizeof(capnp::word);
        c->network_ = kj::heap<capnp::TwoPartyVatNetwork>(*c->stream_, capnp::rpc::twoparty::Side::CLIENT, reader);
        c->rpc_ = kj::heap<capnp::RpcSystem<capnp::rpc::twoparty::VatId>>(capnp::makeRpcClient(*c->network_));
        capnp::MallocMessageBuilder vat;
        auto server = vat.initRoot<capnp::rpc::twoparty::VatId>();
        server.setSide(capnp::rpc::twoparty::Side::SERVER);
        c->session_ = kj::heap<rpc::LedgerSession::Client>(c->rpc_->bootstrap(server).castAs<rpc::LedgerSession>());
      })) {
    return Status::IOError(fmt::format("cannot connect to ledgerd at {}: {}", host_port, e->getDescription().cStr()));
  }
  *out = std::move(c);
  return Status::Ok();
}

}  // namespace ledgerd
