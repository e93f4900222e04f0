// A package whose fuzz target fails on an input the fuzzer finds at once:
// RunFuzz must report it and write it, never run it again.
module example.com/fuzzcrash

go 1.24
