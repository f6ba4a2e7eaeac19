"""``python -m seq2seq_cli`` runs the same app as the ``s2s`` console script."""

from seq2seq_cli.cli import main

if __name__ == "__main__":
    main()
