"""Stage 2, labelled rollouts (`passlens-train build-dataset`): a trunk per problem, its
forking tokens, M samples from each, every program judged in the sandbox."""
