"""Where and how the course runs: the profile and every environment variable (read in one module, `env`),
library noise, argument validation, plotting and notebook display, model presets, models, data, the training
loop, the repository paths, units, and JSON/library-version I/O.

May import: libraries only (no other course_utils subpackage).
"""
