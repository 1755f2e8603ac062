// The peer's job: does nothing, like Levqor's `echo` does next to nothing.
module.exports = {
  noop: async () => {},
};
