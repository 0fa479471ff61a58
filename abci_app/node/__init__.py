"""Running a node: the home folder (CometBFT config, genesis, app config), keyring and process supervision."""
