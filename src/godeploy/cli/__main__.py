"""`python -m godeploy.cli ...`: the same command as the `godeploy` console script."""

from godeploy.cli import main

if __name__ == "__main__":
    main()
