// Test helper for store_crash_test: commits numbered changes to a store as fast as it
// can and prints "acked N" after each commit returns, like a controller acknowledging a
// change to the CLI. Change N creates middlepipe mp-N, binds it to app web, and sets the
// app's epoch to N, all in one transaction, so a torn transaction is visible as an epoch
// that disagrees with the middlepipes and bindings stored.
#include <cstdio>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "controller/store/sqlite_store.h"

int main(int argc, char** argv) {
  using middlepipe::controller::SqliteStore;
  using middlepipe::controller::StoreTransaction;
  if (argc != 2) {
    std::cerr << "usage: crash_writer STORE_PATH\n";
    return 2;
  }
  auto store = SqliteStore::Open(argv[1]);
  if (!store.ok()) {
    std::cerr << store.status() << "\n";
    return 1;
  }
  for (uint64_t n = 0;;) {
    absl::Status status = (*store)->Transact([&n](StoreTransaction& tx) {
      absl::StatusOr<uint64_t> epoch = tx.GetEpoch("alice", "web");
      if (!epoch.ok()) return epoch.status();
      n = *epoch + 1;
      middlepipe::v1::Middlepipe middlepipe;
      middlepipe.set_name(absl::StrCat("mp-", n));
      middlepipe.set_kind("monitor");
      middlepipe.set_config_json("{}");
      middlepipe.set_generation(1);
      if (absl::Status put = tx.PutMiddlepipe("alice", middlepipe); !put.ok()) return put;
      middlepipe::v1::Binding binding;
      binding.set_middlepipe(middlepipe.name());
      binding.set_app("web");
      binding.set_service("orders");
      binding.set_position(static_cast<int32_t>(n));
      if (absl::Status put = tx.PutBinding("alice", binding); !put.ok()) return put;
      return tx.SetEpoch("alice", "web", n);
    });
    if (!status.ok()) {
      std::cerr << status << "\n";
      return 1;
    }
    std::printf("acked %llu\n", static_cast<unsigned long long>(n));
    std::fflush(stdout);
  }
}
