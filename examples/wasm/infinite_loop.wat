;; Never returns: every execution runs out of fuel (wasm/5) and is charged its whole gas cap; the chain
;; goes on. Used by the tests and the localnet check.
(module
  (func (export "execute") (result i32)
    (loop $forever (br $forever))
    (i32.const 0)))
