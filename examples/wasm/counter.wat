;; Counter: adds one to the little-endian u64 stored under "count" in the task owner's kv namespace
;; and returns the new value (8 bytes) as the execution's return data.
;;
;; Schedule it with no task data; `taskmaster query kv get <owner> count` shows the raw bytes.
(module
  (import "taskmaster" "kv_get" (func $kv_get (param i32 i32 i32 i32) (result i32)))
  (import "taskmaster" "kv_set" (func $kv_set (param i32 i32 i32 i32)))
  (import "taskmaster" "set_return" (func $set_return (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "count")            ;; the key, 5 bytes at offset 0
  ;; offset 16: the 8-byte value buffer

  (func (export "execute") (result i32)
    (local $n i64)
    ;; an absent key (-1) or a value of another length counts from 0
    (if (i32.eq (call $kv_get (i32.const 0) (i32.const 5) (i32.const 16) (i32.const 8)) (i32.const 8))
      (then (local.set $n (i64.load (i32.const 16)))))
    (local.set $n (i64.add (local.get $n) (i64.const 1)))
    (i64.store (i32.const 16) (local.get $n))
    (call $kv_set (i32.const 0) (i32.const 5) (i32.const 16) (i32.const 8))
    (call $set_return (i32.const 16) (i32.const 8))
    (i32.const 0)))
