package embed

import "context"

func newLocal(c Config, env Env) (Embedder, error) {
	return nil, &UnavailableError{Kind: KindLocal, Reason: "the local embedder is being built", Fix: "use kind none"}
}

func newOpenAI(_ context.Context, c Config, env Env) (Embedder, error) {
	return nil, &UnavailableError{Kind: KindOpenAI, Reason: "the openai embedder is being built", Fix: "use kind none"}
}
