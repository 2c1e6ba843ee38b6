from inspector.cli import main

if __name__ == "__main__":  # a child process started by multiprocessing imports this module too
    raise SystemExit(main())
