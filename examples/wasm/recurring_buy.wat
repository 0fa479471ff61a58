;; Recurring buy with a price cap: at every execution (schedule it with an interval), if the oracle
;; price is at most the cap, pay the amount to the seller from the task's allowance and add it to the
;; little-endian u64 "bought" in the owner's kv namespace; above the cap (or before the first price)
;; skip this round.
;;
;; Task data: the same layout as limit_order.wat (cap, amount, pair, recipient):
;;   0  i64  cap         highest price paid, 6 decimals
;;   8  i64  amount      utask per execution
;;   16 i32  pair_len
;;   20      pair
;;   20+pair_len         seller, bech32
;;
;; Return data "bought" or "skipped"; event TaskWasmEvent skipped=<price> when skipping.
(module
  (import "taskmaster" "task_data" (func $task_data (param i32 i32) (result i32)))
  (import "taskmaster" "price" (func $price (param i32 i32 i32) (result i64)))
  (import "taskmaster" "send" (func $send (param i32 i32 i64)))
  (import "taskmaster" "kv_get" (func $kv_get (param i32 i32 i32 i32) (result i32)))
  (import "taskmaster" "kv_set" (func $kv_set (param i32 i32 i32 i32)))
  (import "taskmaster" "emit" (func $emit (param i32 i32 i32 i32)))
  (import "taskmaster" "set_return" (func $set_return (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "bought")           ;; 6 bytes, also the kv key
  (data (i32.const 8) "skipped")          ;; 7 bytes
  ;; offset 32: the running total (8 bytes); offset 64: a price as decimal text (up to 20 bytes)
  ;; offset 256: the task data (up to 1024 bytes)

  ;; writes n (>= 0) as decimal digits at offset 64; returns the number of digits
  (func $decimal (param $n i64) (result i32)
    (local $digits i32) (local $i i32) (local $m i64)
    (local.set $m (local.get $n))
    (loop $count
      (local.set $digits (i32.add (local.get $digits) (i32.const 1)))
      (local.set $m (i64.div_u (local.get $m) (i64.const 10)))
      (br_if $count (i64.ne (local.get $m) (i64.const 0))))
    (local.set $i (local.get $digits))
    (loop $write
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (i32.store8 (i32.add (i32.const 64) (local.get $i))
        (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $n) (i64.const 10)))))
      (local.set $n (i64.div_u (local.get $n) (i64.const 10)))
      (br_if $write (i32.gt_u (local.get $i) (i32.const 0))))
    (local.get $digits))

  (func (export "execute") (result i32)
    (local $len i32) (local $pair_len i32) (local $p i64) (local $seller i32) (local $seller_len i32)
    (local.set $len (call $task_data (i32.const 256) (i32.const 1024)))
    (if (i32.or (i32.lt_u (local.get $len) (i32.const 20)) (i32.gt_u (local.get $len) (i32.const 1024)))
      (then (return (i32.const 1))))
    (local.set $pair_len (i32.load (i32.const 272)))
    (if (i32.gt_u (i32.add (local.get $pair_len) (i32.const 20)) (local.get $len))
      (then (return (i32.const 1))))
    (local.set $seller (i32.add (i32.const 276) (local.get $pair_len)))
    (local.set $seller_len (i32.sub (local.get $len) (i32.add (i32.const 20) (local.get $pair_len))))
    (local.set $p (call $price (i32.const 276) (local.get $pair_len) (i32.const 6)))
    (if (i32.or (i64.lt_s (local.get $p) (i64.const 0))
                (i64.gt_s (local.get $p) (i64.load (i32.const 256))))
      (then
        (if (i64.ge_s (local.get $p) (i64.const 0))
          (then (call $emit (i32.const 8) (i32.const 7) (i32.const 64) (call $decimal (local.get $p)))))
        (call $set_return (i32.const 8) (i32.const 7))
        (return (i32.const 0))))
    (call $send (local.get $seller) (local.get $seller_len) (i64.load (i32.const 264)))
    (if (i32.ne (call $kv_get (i32.const 0) (i32.const 6) (i32.const 32) (i32.const 8)) (i32.const 8))
      (then (i64.store (i32.const 32) (i64.const 0))))
    (i64.store (i32.const 32) (i64.add (i64.load (i32.const 32)) (i64.load (i32.const 264))))
    (call $kv_set (i32.const 0) (i32.const 6) (i32.const 32) (i32.const 8))
    (call $set_return (i32.const 0) (i32.const 6))
    (i32.const 0)))
