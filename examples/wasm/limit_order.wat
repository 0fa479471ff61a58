;; Limit order: when the oracle price of a pair is below a limit, send an amount from the task's
;; allowance to a recipient, once. Run it with a price trigger ("below" the same limit) so it executes
;; in the block after the round that crossed it; it checks the price again itself.
;;
;; Task data (little-endian; examples/wasm/README.md shows how to build it):
;;   0  i64  limit       price limit with 6 decimals (e.g. 50000000000 = 50,000.000000)
;;   8  i64  amount      utask to send
;;   16 i32  pair_len    length of the pair id
;;   20      pair        e.g. "bitcoin/usd"
;;   20+pair_len         recipient, a bech32 address (the rest of the data)
;;
;; Outcome: return data "filled" after a send, "waiting" when the price is not below the limit (or
;; the pair has no price yet); both are successful executions. Events: TaskWasmEvent filled=<recipient>.
(module
  (import "taskmaster" "task_data" (func $task_data (param i32 i32) (result i32)))
  (import "taskmaster" "price" (func $price (param i32 i32 i32) (result i64)))
  (import "taskmaster" "send" (func $send (param i32 i32 i64)))
  (import "taskmaster" "emit" (func $emit (param i32 i32 i32 i32)))
  (import "taskmaster" "set_return" (func $set_return (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "filled")           ;; 6 bytes
  (data (i32.const 8) "waiting")          ;; 7 bytes
  ;; offset 256: the task data (up to 1024 bytes)

  (func (export "execute") (result i32)
    (local $len i32) (local $pair_len i32) (local $p i64)
    (local.set $len (call $task_data (i32.const 256) (i32.const 1024)))
    ;; malformed data fails the execution (return 1) without a send
    (if (i32.or (i32.lt_u (local.get $len) (i32.const 20)) (i32.gt_u (local.get $len) (i32.const 1024)))
      (then (return (i32.const 1))))
    (local.set $pair_len (i32.load (i32.const 272)))
    (if (i32.gt_u (i32.add (local.get $pair_len) (i32.const 20)) (local.get $len))
      (then (return (i32.const 1))))
    (local.set $p (call $price (i32.const 276) (local.get $pair_len) (i32.const 6)))
    (if (i32.or (i64.lt_s (local.get $p) (i64.const 0))
                (i64.ge_s (local.get $p) (i64.load (i32.const 256))))
      (then
        (call $set_return (i32.const 8) (i32.const 7))
        (return (i32.const 0))))
    ;; recipient: after the pair, to the end of the data
    (call $send
      (i32.add (i32.const 276) (local.get $pair_len))
      (i32.sub (local.get $len) (i32.add (i32.const 20) (local.get $pair_len)))
      (i64.load (i32.const 264)))
    (call $emit (i32.const 0) (i32.const 6)
      (i32.add (i32.const 276) (local.get $pair_len))
      (i32.sub (local.get $len) (i32.add (i32.const 20) (local.get $pair_len))))
    (call $set_return (i32.const 0) (i32.const 6))
    (i32.const 0)))
