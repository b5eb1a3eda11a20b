#pragma once
// A shard's mailbox: an intrusive multi-producer, single-consumer queue (Dmitry Vyukov's).
// Any thread pushes with one atomic exchange and one store; only the owning shard's thread
// pops. Nodes are the mails themselves, so a push allocates nothing and never fails. Every
// access is a std::atomic operation, which ThreadSanitizer can follow (boost::lockfree's
// freelist reuses nodes through plain writes and is reported as racing).

#include <atomic>

namespace sluice {

/// The link every piece of mail carries for its mailbox.
struct mail_link {
  std::atomic<mail_link*> next{nullptr};
};

class mailbox {
 public:
  mailbox() noexcept : head_(&stub_), tail_(&stub_) {}
  mailbox(const mailbox&) = delete;
  mailbox& operator=(const mailbox&) = delete;

  /// From any thread.
  void push(mail_link* n) noexcept {
    n->next.store(nullptr, std::memory_order_relaxed);
    mail_link* prev = head_.exchange(n, std::memory_order_acq_rel);
    // Between the exchange and this store the queue is briefly cut: pop() sees the nodes
    // before n and reports empty. The pusher wakes the consumer afterwards, so n is not lost.
    prev->next.store(n, std::memory_order_release);
  }

  /// On the owning thread only. nullptr when empty or while a push is half done.
  mail_link* pop() noexcept {
    mail_link* tail = tail_;
    mail_link* next = tail->next.load(std::memory_order_acquire);
    if (tail == &stub_) {
      if (next == nullptr) return nullptr;
      tail_ = tail = next;
      next = next->next.load(std::memory_order_acquire);
    }
    if (next != nullptr) {
      tail_ = next;
      return tail;
    }
    if (tail != head_.load(std::memory_order_acquire)) return nullptr;  // a push in progress
    push(&stub_);  // tail is the last node: put the stub behind it so it can be taken
    next = tail->next.load(std::memory_order_acquire);
    if (next == nullptr) return nullptr;
    tail_ = next;
    return tail;
  }

 private:
  std::atomic<mail_link*> head_;  ///< last pushed
  mail_link* tail_;               ///< next to pop (consumer only)
  mail_link stub_;
};

}  // namespace sluice
