"""What state the installation is in: catalogue coverage, the index, the last run, and the doctor's checks."""
