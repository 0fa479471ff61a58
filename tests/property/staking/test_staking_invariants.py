"""Every path that changes membership, in random order over blocks, keeps staking and CometBFT agreed.

Paths: create, edit, delegate, undelegate, slash, jail and unjail (staking's keeper, as a tx or
another module calls it), the oracle's jailing (with its cap), and unbonding maturity (end-blocks).
After every simulated block (keeper operations, then staking's end-block): the bonded pool holds the
validators' tokens, the unbonding pool the pending entries, shares add up, and the active set is the
top ``max_validators`` by (power desc, operator address) computed here independently, with no
exception. CometBFT's set, rebuilt only from the updates the end-blocks returned, equals staking's
active set, is never empty and never receives power 0 for a key it does not hold (no orphaned set).
No block takes 1/3 or more of the set's power away from its members except by a stronger candidate
pushing one out, so nobody with a fraction of the stake inherits the set (no takeover). A validator
the oracle jails never takes the oracle's jail to 1/3 of the power. Supply changes only by what
slashes burnt.
"""

from __future__ import annotations

import shutil
import tempfile

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from taskmaster.staking.v1 import staking_pb2

from abci_app.context import Context
from abci_app.errors import AppError
from abci_app.modules.bank import keeper as bank
from abci_app.modules.oracle import keeper as oracle
from abci_app.modules.staking import keeper
from abci_app.router import default_router
from abci_app.tx.address import address_from_pubkey, from_bech32
from tests.unit.staking.staking_chain import addr, consensus_key, start

USERS = ["operator", "user0", "user1", "user2"]
AMOUNTS = st.sampled_from([1, 999_999, 1_000_000, 7_654_321, 30_000_000, 123_456_789])


class StakingMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="staking-prop-")
        self.chain = start(self.dir + "/db", {"max_validators": "2", "unbonding_blocks": "2"})
        self.branch = self.chain.app._block_branch()
        self.height = 1
        self.ctx = self._at(self.height)
        self.cometbft = {consensus_key_of(self.ctx, o): p for o, p in keeper.active_set(self.ctx)}
        self.supply = bank.supply(self.ctx, "utask")
        self.router = default_router()

    def teardown(self) -> None:
        self.chain.app.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _at(self, height: int) -> Context:
        return self.chain.app._context(self.branch, height)

    def _try(self, op: object, *args: object) -> None:
        """Run one operation as a tx would: on a child branch, written only when it succeeds."""
        child = self.ctx.child()
        try:
            op(child, *args)  # type: ignore[operator]
        except AppError:
            child.branch.discard()
            return
        child.branch.write()

    def _who(self, name: str) -> bytes:
        return from_bech32(addr(self.chain, name))

    @rule(name=st.sampled_from(USERS[1:]), amount=AMOUNTS)
    def create(self, name: str, amount: int) -> None:
        description = staking_pb2.Description(moniker=name)
        self._try(
            keeper.create_validator,
            self._who(name),
            consensus_key(name),
            amount,
            description,
            staking_pb2.CommissionRates(),
        )

    @rule(name=st.sampled_from(USERS), other=st.sampled_from(USERS), amount=AMOUNTS)
    def delegate(self, name: str, other: str, amount: int) -> None:
        self._try(keeper.delegate, self._who(name), self._who(other), amount)

    @rule(name=st.sampled_from(USERS), other=st.sampled_from(USERS), amount=AMOUNTS)
    def undelegate(self, name: str, other: str, amount: int) -> None:
        self._try(keeper.undelegate, self._who(name), self._who(other), amount)

    @rule(other=st.sampled_from(USERS), bps=st.sampled_from([1, 100, 3333, 10_000]))
    def slash(self, other: str, bps: int) -> None:
        burnt_before = bank.supply(self.ctx, "utask")
        self._try(keeper.slash, self._who(other), bps)
        self.supply -= burnt_before - bank.supply(self.ctx, "utask")

    @rule(other=st.sampled_from(USERS))
    def jail(self, other: str) -> None:
        self._try(keeper.jail, self._who(other))

    @rule(other=st.sampled_from(USERS))
    def unjail(self, other: str) -> None:
        self._try(keeper.unjail, self._who(other))

    @rule(name=st.sampled_from(USERS), moniker=st.sampled_from(["a", "b", keeper.DO_NOT_MODIFY]))
    def edit(self, name: str, moniker: str) -> None:
        self._try(keeper.edit_validator, self._who(name), staking_pb2.Description(moniker=moniker), None)

    @rule(other=st.sampled_from(USERS))
    def oracle_jail(self, other: str) -> None:
        validator = keeper.get_validator(self.ctx, self._who(other))
        if validator is None:
            return
        held = oracle.jailed_power(self.ctx)
        base = held + sum(p for _, p in keeper.top_candidates(self.ctx))
        address = address_from_pubkey(validator.consensus_pubkey)
        supply = bank.supply(self.ctx, "utask")
        if oracle.jail(self.ctx, address, "property test", oracle.get_params(self.ctx)):
            assert 3 * (held + validator.power) < base, "the oracle jailed 1/3 of the power or more"
        self.supply -= supply - bank.supply(self.ctx, "utask")

    @rule(blocks=st.integers(1, 3))
    def end_blocks(self, blocks: int) -> None:
        for _ in range(blocks):
            before = dict(self.cometbft)
            for update in keeper.end_block(self.ctx):
                key = update.pub_key.ed25519
                if update.power == 0:
                    assert key in self.cometbft, "power 0 for a validator CometBFT does not have"
                    del self.cometbft[key]
                else:
                    self.cometbft[key] = update.power
            assert self.cometbft, "CometBFT would have no validator"
            self.router.check_invariants(self.ctx)
            self._check_set()
            self._check_no_takeover(before)
            self.height += 1
            self.ctx = self._at(self.height)

    def _check_set(self) -> None:
        candidates = [
            (-v.power, operator)
            for operator, v in keeper.validators(self.ctx)
            if not v.jailed and v.power > 0
        ]
        top = sorted(candidates)[:2]
        expected = {consensus_key_of(self.ctx, o): -p for p, o in top}
        assert self.cometbft == expected
        assert self.cometbft == {consensus_key_of(self.ctx, o): p for o, p in keeper.active_set(self.ctx)}

    def _check_no_takeover(self, before: dict[bytes, int]) -> None:
        """The members before the block lost less than 1/3 of their power, displacement aside."""
        candidate = {v.consensus_pubkey: (0 if v.jailed else v.power) for _, v in keeper.validators(self.ctx)}
        lost = sum(max(0, power - candidate.get(key, 0)) for key, power in before.items())
        assert 3 * lost < sum(before.values()), f"a block took {lost} of {sum(before.values())} power"

    @invariant()
    def supply_changes_only_by_slashes(self) -> None:
        assert bank.supply(self.ctx, "utask") == self.supply


def consensus_key_of(ctx: Context, operator: bytes) -> bytes:
    return keeper.require_validator(ctx, operator).consensus_pubkey


TestStakingMachine = StakingMachine.TestCase
TestStakingMachine.settings = settings(max_examples=40, stateful_step_count=40, deadline=None)
