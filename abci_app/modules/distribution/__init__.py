"""Distribution: pays each block's collected tx fees to the block's proposer (its operator account).

It keeps no store of its own: the fees sit in the fee collector account (owned by auth) until its
end-block hook moves them with bank's ``send``, the proposer found through staking.
"""
