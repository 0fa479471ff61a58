// cosmjs 0.39 against a Taskmaster node: run by tests/integration/test_cosmos_clients.py with
// `node --test`, which passes RPC (http://host:port), CHAIN_ID, FUNDED and UNKNOWN (task1 addresses).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { QueryClient, StargateClient, setupStakingExtension } from "@cosmjs/stargate";
import { connectComet } from "@cosmjs/tendermint-rpc";

const { RPC, CHAIN_ID, FUNDED, UNKNOWN } = process.env;
let client;

before(async () => {
  client = await StargateClient.connect(RPC);
});

after(() => client?.disconnect());

test("chain id and height", async () => {
  assert.equal(await client.getChainId(), CHAIN_ID);
  assert.ok((await client.getHeight()) > 0);
});

test("balance of a funded address", async () => {
  const coin = await client.getBalance(FUNDED, "utask");
  assert.equal(coin.denom, "utask");
  assert.ok(BigInt(coin.amount) > 0n);
});

test("balance of an unknown address is 0 of the denom", async () => {
  assert.deepEqual(await client.getBalance(UNKNOWN, "utask"), { denom: "utask", amount: "0" });
});

test("all balances", async () => {
  const coins = await client.getAllBalances(FUNDED);
  assert.ok(coins.some((c) => c.denom === "utask" && BigInt(c.amount) > 0n));
});

test("account of a funded address", async () => {
  const account = await client.getAccount(FUNDED);
  assert.equal(account.address, FUNDED);
  assert.ok(account.accountNumber >= 0); // a bigint in cosmjs 0.39
  assert.ok(account.sequence >= 0);
  // the faucet has sent a tx (the pytest does it first): its key is known and decodes
  assert.ok(["tendermint/PubKeyEd25519", "tendermint/PubKeySecp256k1"].includes(account.pubkey.type));
  assert.ok(account.sequence >= 1n);
});

test("account of an unknown address is null", async () => {
  assert.equal(await client.getAccount(UNKNOWN), null);
});

test("staking extension lists the bonded validators", async () => {
  const comet = await connectComet(RPC);
  try {
    const query = QueryClient.withExtensions(comet, setupStakingExtension);
    const { validators } = await query.staking.validators("BOND_STATUS_BONDED");
    assert.ok(validators.length >= 1);
    for (const v of validators) {
      assert.match(v.operatorAddress, /^taskvaloper1/);
      assert.equal(v.consensusPubkey.typeUrl, "/cosmos.crypto.ed25519.PubKey");
      assert.ok(BigInt(v.tokens) > 0n);
    }
    const one = await query.staking.validator(validators[0].operatorAddress);
    assert.equal(one.validator.operatorAddress, validators[0].operatorAddress);
    const pool = await query.staking.pool();
    assert.ok(BigInt(pool.pool.bondedTokens) > 0n);
    const params = await query.staking.params();
    assert.equal(params.params.bondDenom, "utask");
  } finally {
    comet.disconnect();
  }
});
