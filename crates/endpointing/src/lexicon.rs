//! Word lists behind the cues, as `match` tables (compiled to fast string comparisons, no allocation).
//!
//! Every word is lowercase with a plain apostrophe. The lists are English only, on purpose: other languages
//! need their own tables, not a translation of these.

pub(crate) fn is_ack_word(w: &str) -> bool {
    matches!(
        w,
        "okay"
            | "ok"
            | "k"
            | "kay"
            | "yeah"
            | "yes"
            | "yep"
            | "yup"
            | "yea"
            | "ya"
            | "sure"
            | "no"
            | "nope"
            | "nah"
            | "thanks"
            | "thank"
            | "you"
            | "got"
            | "it"
            | "sounds"
            | "good"
            | "great"
            | "perfect"
            | "alright"
            | "right"
            | "correct"
            | "exactly"
            | "cool"
            | "awesome"
            | "fine"
            | "that's"
            | "thats"
            | "works"
            | "bye"
            | "goodbye"
            | "understood"
            | "absolutely"
            | "definitely"
            | "course"
            | "please"
            | "mhm"
            | "mm"
            | "uh-huh"
            | "huh"
            | "wonderful"
            | "excellent"
            | "lovely"
            | "cheers"
            | "much"
            | "very"
            | "sir"
            | "ma'am"
            | "gotcha"
            | "noted"
            | "appreciate"
            | "not"
            | "really"
            | "oh"
            | "ah"
            | "nice"
            | "amazing"
            | "deal"
            | "done"
            | "agreed"
            | "true"
            | "indeed"
            | "totally"
            | "ahead"
            | "fantastic"
            | "super"
            | "makes"
            | "sense"
            | "alrighty"
            | "bet"
            | "certainly"
    ) || is_ack_function(w)
}

/// Function words allowed inside an acknowledgement phrase (`that's all`, `will do`, `go ahead`, `works for
/// me`, `of course`, `thank you so much`).
pub(crate) fn is_ack_function(w: &str) -> bool {
    matches!(
        w,
        "all" | "do" | "will" | "go" | "me" | "that" | "too" | "of" | "for" | "so" | "is"
    )
}

/// Ack-phrase words that cannot end one (`okay so`, `thanks for`).
pub(crate) fn is_open_ack_end(w: &str) -> bool {
    matches!(
        w,
        "so" | "for" | "of" | "is" | "go" | "that's" | "thats" | "thank" | "not" | "very"
    )
}

pub(crate) fn is_discourse_marker(w: &str) -> bool {
    matches!(
        w,
        "so" | "and"
            | "um"
            | "uh"
            | "hey"
            | "hi"
            | "hello"
            | "okay"
            | "ok"
            | "yeah"
            | "well"
            | "oh"
            | "also"
            | "but"
            | "alright"
            | "actually"
            | "sorry"
            | "excuse"
            | "quick"
            | "question"
            | "then"
            | "now"
            | "just"
            | "like"
            | "hmm"
            | "right"
            | "yes"
            | "no"
            | "erm"
            | "er"
    )
}

pub(crate) fn is_wh_word(w: &str) -> bool {
    matches!(
        w,
        "what"
            | "what's"
            | "whats"
            | "when"
            | "when's"
            | "where"
            | "where's"
            | "who"
            | "who's"
            | "why"
            | "how"
            | "how's"
            | "which"
            | "whose"
            | "whom"
            | "how'd"
            | "what'd"
            | "where'd"
    )
}

pub(crate) fn is_question_auxiliary(w: &str) -> bool {
    matches!(
        w,
        "can"
            | "could"
            | "would"
            | "will"
            | "do"
            | "does"
            | "did"
            | "is"
            | "are"
            | "was"
            | "were"
            | "should"
            | "may"
            | "have"
            | "has"
            | "am"
            | "shall"
            | "won't"
            | "can't"
            | "don't"
            | "doesn't"
            | "isn't"
            | "aren't"
            | "didn't"
            | "wouldn't"
            | "couldn't"
            | "might"
            | "any"
    )
}

pub(crate) fn is_conjunction(w: &str) -> bool {
    matches!(
        w,
        "and"
            | "but"
            | "or"
            | "so"
            | "because"
            | "cause"
            | "'cause"
            | "cuz"
            | "although"
            | "whenever"
            | "wherever"
            | "except"
            | "unless"
            | "if"
            | "whether"
            | "while"
            | "whereas"
            | "nor"
            | "plus"
            | "since"
            | "then"
            | "than"
            | "which"
            | "whose"
            | "also"
            | "otherwise"
            | "however"
    )
}

pub(crate) fn is_so_complement_verb(w: &str) -> bool {
    matches!(
        w,
        "think" | "hope" | "guess" | "believe" | "suppose" | "said" | "told" | "so" | "reckon" | "imagine"
    )
}

pub(crate) fn is_strong_preposition(w: &str) -> bool {
    matches!(
        w,
        "to" | "of"
            | "for"
            | "with"
            | "at"
            | "from"
            | "into"
            | "onto"
            | "between"
            | "via"
            | "towards"
            | "toward"
            | "without"
            | "per"
            | "about"
            | "regarding"
            | "including"
            | "among"
            | "upon"
            | "within"
            | "versus"
            | "vs"
            | "than"
            | "as"
            | "until"
            | "till"
            | "during"
            | "against"
            | "across"
            | "beside"
    )
}

pub(crate) fn is_weak_preposition(w: &str) -> bool {
    matches!(
        w,
        "in" | "on" | "by" | "under" | "near" | "through" | "after" | "over" | "around" | "behind" | "beyond"
    )
}

/// Object pronouns before a particle (`sign me up`, `drop it off`).
pub(crate) fn is_object_pronoun(w: &str) -> bool {
    matches!(
        w,
        "me" | "it" | "them" | "him" | "her" | "us" | "you" | "this" | "that" | "everything" | "in"
    )
}

/// Verbs whose particle can end a sentence (`log in`, `come on`, `check in`, `hold on`).
pub(crate) fn is_particle_verb(w: &str) -> bool {
    matches!(
        w,
        "log"
            | "logged"
            | "check"
            | "checked"
            | "sign"
            | "signed"
            | "come"
            | "came"
            | "hold"
            | "hang"
            | "move"
            | "moved"
            | "turn"
            | "turned"
            | "get"
            | "got"
            | "go"
            | "went"
            | "drop"
            | "dropped"
            | "pick"
            | "picked"
            | "plug"
            | "plugged"
            | "switch"
            | "switched"
            | "carry"
            | "walk"
            | "walked"
            | "stop"
            | "stopped"
            | "pass"
            | "passed"
            | "pull"
            | "pulled"
            | "fill"
            | "filled"
            | "look"
            | "looked"
            | "hand"
            | "handed"
            | "mail"
            | "mailed"
            | "call"
            | "called"
            | "tune"
            | "keep"
            | "put"
            | "stay"
            | "moving"
            | "logging"
            | "later"
            | "not"
            | "time"
            | "is"
            | "be"
            | "been"
            | "it's"
            | "that's"
            | "all"
            | "way"
            | "stopping"
            | "swing"
            | "over"
            | "left"
            | "right"
            | "coming"
            | "comes"
            | "going"
            | "getting"
            | "calling"
            | "ringing"
            | "phoning"
            | "checking"
            | "signing"
            | "turning"
    )
}

pub(crate) fn is_article(w: &str) -> bool {
    matches!(
        w,
        "the"
            | "a"
            | "an"
            | "my"
            | "your"
            | "our"
            | "their"
            | "his"
            | "its"
            | "every"
            | "each"
            | "whose"
            | "these"
            | "those"
            | "yer"
            | "ur"
    )
}

pub(crate) fn is_auxiliary(w: &str) -> bool {
    matches!(
        w,
        "is" | "are"
            | "was"
            | "were"
            | "am"
            | "be"
            | "been"
            | "being"
            | "will"
            | "would"
            | "can"
            | "could"
            | "should"
            | "shall"
            | "may"
            | "might"
            | "must"
            | "do"
            | "does"
            | "did"
            | "have"
            | "has"
            | "had"
            | "gonna"
            | "wanna"
            | "gotta"
            | "i'm"
            | "im"
            | "it's"
            | "that's"
            | "there's"
            | "we're"
            | "they're"
            | "you're"
            | "he's"
            | "she's"
            | "i'll"
            | "we'll"
            | "you'll"
            | "they'll"
            | "i'd"
            | "we'd"
            | "i've"
            | "we've"
            | "they've"
            | "isn't"
            | "wasn't"
            | "aren't"
            | "weren't"
            | "don't"
            | "doesn't"
            | "didn't"
            | "can't"
            | "won't"
            | "wouldn't"
            | "couldn't"
            | "shouldn't"
            | "haven't"
            | "hasn't"
            | "what's"
            | "where's"
            | "here's"
            | "who's"
            | "number's"
            | "name's"
            | "address's"
            | "email's"
    )
}

/// Adverbs that can stand where a predicate belongs after a copula (`my ETA is now...`).
pub(crate) fn is_copula_adverb(w: &str) -> bool {
    matches!(
        w,
        "now"
            | "still"
            | "just"
            | "currently"
            | "really"
            | "also"
            | "basically"
            | "probably"
            | "actually"
            | "usually"
            | "always"
            | "never"
            | "not"
    )
}

pub(crate) fn is_subject_pronoun(w: &str) -> bool {
    matches!(w, "i" | "we" | "they" | "he" | "she")
}

pub(crate) fn is_complement_verb(w: &str) -> bool {
    matches!(
        w,
        "want"
            | "wanted"
            | "need"
            | "needed"
            | "wanna"
            | "gonna"
            | "gotta"
            | "trying"
            | "planning"
            | "hoping"
            | "thinking"
            | "wondering"
            | "supposed"
            | "meant"
            | "tried"
            | "decided"
            | "means"
            | "let"
            | "wants"
            | "needs"
            | "tell"
            | "say"
            | "saying"
            | "asking"
            | "looking"
            | "calling"
            | "going"
            | "getting"
            | "having"
            | "try"
            | "just"
            | "really"
            | "basically"
            | "literally"
            | "honestly"
            | "also"
            | "wondered"
            | "expecting"
            | "seeing"
            | "hoped"
    )
}

pub(crate) fn is_filler(w: &str) -> bool {
    matches!(
        w,
        "um" | "uh"
            | "umm"
            | "uhh"
            | "uhm"
            | "erm"
            | "er"
            | "err"
            | "ah"
            | "ahh"
            | "hmm"
            | "hm"
            | "mmm"
            | "like"
            | "well"
            | "basically"
            | "anyway"
            | "anyways"
            | "ugh"
            | "eh"
    )
}

pub(crate) fn is_sentence_final(w: &str) -> bool {
    matches!(
        w,
        "please"
            | "thanks"
            | "today"
            | "tomorrow"
            | "tonight"
            | "yesterday"
            | "now"
            | "yet"
            | "too"
            | "again"
            | "anymore"
            | "already"
            | "it"
            | "them"
            | "me"
            | "us"
            | "him"
            | "there"
            | "here"
            | "morning"
            | "afternoon"
            | "evening"
            | "week"
            | "weekend"
            | "month"
            | "year"
            | "ago"
            | "later"
            | "soon"
            | "instead"
            | "either"
            | "though"
            | "all"
            | "everything"
            | "anything"
            | "nothing"
            | "thing"
            | "fine"
            | "done"
            | "ready"
            | "available"
            | "possible"
            | "asap"
            | "yesterday's"
            | "lately"
            | "online"
            | "home"
            | "back"
            | "up"
            | "out"
            | "off"
            | "down"
            | "away"
            | "working"
            | "broken"
            | "charged"
            | "cancelled"
            | "canceled"
            | "twice"
            | "once"
            | "minutes"
            | "hours"
            | "days"
            | "weeks"
            | "months"
            | "years"
            | "dollars"
            | "pm"
            | "o'clock"
            | "monday"
            | "tuesday"
            | "wednesday"
            | "thursday"
            | "friday"
            | "saturday"
            | "sunday"
            | "noon"
            | "midnight"
            | "that"
            | "this"
            | "one"
            | "ones"
            | "much"
            | "right"
            | "help"
            | "quickly"
            | "correct"
            | "wrong"
            | "problem"
            | "issue"
            | "account"
            | "order"
            | "appointment"
            | "reservation"
    )
}

pub(crate) fn is_function_word(w: &str) -> bool {
    is_conjunction(w)
        || is_strong_preposition(w)
        || is_weak_preposition(w)
        || is_article(w)
        || is_auxiliary(w)
        || is_subject_pronoun(w)
        || is_filler(w)
        || matches!(w, "like" | "want" | "need" | "a" | "some" | "any" | "just" | "really")
}

pub(crate) fn is_repair_marker(w: &str) -> bool {
    matches!(
        w,
        "sorry" | "actually" | "wait" | "ugh" | "hmm" | "no" | "scratch" | "oops" | "rather" | "correction"
    )
}

pub(crate) fn is_retrieval_verb(w: &str) -> bool {
    matches!(
        w,
        "check"
            | "look"
            | "see"
            | "find"
            | "grab"
            | "get"
            | "pull"
            | "dig"
            | "read"
            | "think"
            | "rethink"
            | "figure"
            | "confirm"
            | "double"
            | "double-check"
            | "remember"
            | "open"
            | "log"
            | "write"
            | "locate"
            | "search"
            | "scroll"
            | "verify"
            | "count"
            | "go"
            | "bring"
            | "fetch"
            | "jot"
            | "glance"
            | "peek"
            | "recall"
            | "review"
            | "take"
            | "load"
            | "try"
            | "make"
            | "pause"
            | "process"
            | "sort"
    )
}

pub(crate) fn is_retrieval_ing(w: &str) -> bool {
    matches!(
        w,
        "looking"
            | "checking"
            | "grabbing"
            | "finding"
            | "getting"
            | "searching"
            | "digging"
            | "logging"
            | "opening"
            | "reading"
            | "scrolling"
            | "trying"
            | "writing"
            | "thinking"
            | "restarting"
            | "rebooting"
            | "typing"
            | "loading"
            | "signing"
            | "booting"
    )
}

pub(crate) fn is_social_verb(w: &str) -> bool {
    matches!(
        w,
        "ask"
            | "talk"
            | "call"
            | "text"
            | "tell"
            | "answer"
            | "transfer"
            | "put"
            | "speak"
            | "run"
            | "step"
            | "deal"
            | "handle"
            | "park"
            | "finish"
            | "switch"
    )
}

/// A word that starts a new clause with its own subject (`the receiver is waving`, `I've got a call`).
pub(crate) fn is_clause_start(w: &str) -> bool {
    matches!(
        w,
        "i'm"
            | "im"
            | "i've"
            | "i"
            | "the"
            | "my"
            | "someone"
            | "somebody"
            | "there's"
            | "he"
            | "she"
            | "they"
            | "we"
            | "we're"
            | "they're"
            | "he's"
            | "she's"
            | "it's"
            | "our"
            | "someone's"
            | "somebody's"
            | "that's"
            | "there"
            | "kids"
            | "kid"
            | "dog"
            | "baby"
            | "boss"
            | "wife"
            | "husband"
            | "your"
            | "this"
            | "i'll"
    )
}

pub(crate) fn is_willing_verb(w: &str) -> bool {
    matches!(
        w,
        "love"
            | "like"
            | "want"
            | "need"
            | "have"
            | "going"
            | "got"
            | "supposed"
            | "able"
            | "happy"
            | "glad"
            | "hate"
            | "try"
            | "plan"
            | "mean"
    )
}

pub(crate) fn is_data_noun(w: &str) -> bool {
    matches!(
        w,
        "number"
            | "phone"
            | "zip"
            | "code"
            | "account"
            | "card"
            | "digits"
            | "spell"
            | "spelling"
            | "email"
            | "address"
            | "id"
            | "confirmation"
            | "reference"
            | "policy"
            | "member"
            | "birth"
            | "dob"
            | "ssn"
            | "license"
            | "plate"
            | "vin"
            | "mc"
            | "po"
            | "order"
            | "tracking"
            | "pin"
            | "routing"
            | "serial"
            | "invoice"
            | "claim"
            | "booking"
            | "ticket"
            | "case"
            | "passcode"
            | "password"
            | "username"
            | "postcode"
            | "extension"
            | "iban"
    )
}

/// How many digits a number word stands for when read out (`seven` is one, `fifteen` two), 0 if not one.
pub(crate) fn number_word_digits(w: &str) -> usize {
    match w {
        "zero" | "oh" | "o" | "one" | "two" | "three" | "four" | "five" | "six" | "seven" | "eight" | "nine" => 1,
        "ten" | "eleven" | "twelve" | "thirteen" | "fourteen" | "fifteen" | "sixteen" | "seventeen" | "eighteen"
        | "nineteen" | "twenty" | "thirty" | "forty" | "fifty" | "sixty" | "seventy" | "eighty" | "ninety" => 2,
        _ => 0,
    }
}

pub(crate) fn is_number_token(w: &str) -> bool {
    w.bytes().all(|b| b.is_ascii_digit())
        || number_word_digits(w) > 0
        || matches!(w, "double" | "triple" | "hundred" | "thousand")
}

pub(crate) fn is_spelled_letter(w: &str) -> bool {
    (w.len() == 1 && w.bytes().all(|b| b.is_ascii_lowercase()))
        || matches!(
            w,
            "alpha"
                | "alfa"
                | "bravo"
                | "charlie"
                | "delta"
                | "echo"
                | "foxtrot"
                | "golf"
                | "hotel"
                | "india"
                | "juliet"
                | "juliett"
                | "kilo"
                | "lima"
                | "mike"
                | "november"
                | "oscar"
                | "papa"
                | "quebec"
                | "romeo"
                | "sierra"
                | "tango"
                | "uniform"
                | "victor"
                | "whiskey"
                | "xray"
                | "x-ray"
                | "yankee"
                | "zulu"
        )
}

/// Phrases that ask for time. Each is matched as whole words.
pub(crate) const HOLD_PHRASES: &[&[&str]] = &[
    &["hold", "on"],
    &["hang", "on"],
    &["one", "sec"],
    &["one", "second"],
    &["a", "sec"],
    &["a", "second"],
    &["one", "moment"],
    &["a", "moment"],
    &["a", "minute"],
    &["one", "minute"],
    &["bear", "with", "me"],
    &["hold", "that", "thought"],
    &["just", "a", "sec"],
    &["wait", "a", "sec"],
    &["gimme", "a"],
    &["hold", "up"],
    &["one", "moment"],
];

/// Endings that withdraw what was being said.
pub(crate) const RETRACTIONS: &[&[&str]] = &[
    &["scratch", "that"],
    &["never", "mind"],
    &["nevermind"],
    &["forget", "it"],
    &["forget", "that"],
    &["cancel", "that"],
    &["ignore", "that"],
    &["disregard", "that"],
];

/// Announcements that more is coming.
pub(crate) const CONTINUATIONS: &[&[&str]] = &[
    &["one", "more", "thing"],
    &["another", "thing"],
    &["two", "things"],
    &["three", "things"],
    &["couple", "things"],
    &["couple", "of", "things"],
    &["few", "things"],
    &["quick", "question"],
    &["a", "question"],
    &["two", "questions"],
    &["couple", "questions"],
    &["couple", "of", "questions"],
    &["the", "thing", "is"],
    &["thing", "is"],
    &["here's", "the", "thing"],
    &["the", "problem", "is"],
    &["the", "issue", "is"],
    &["my", "question", "is"],
    &["the", "reason", "is"],
    &["what", "happened", "was"],
    &["the", "other", "thing"],
    &["one", "other", "thing"],
    &["something", "else"],
];

/// Hedge endings: usually the speaker handing the turn over.
pub(crate) const HEDGES: &[&[&str]] = &[
    &["i", "guess"],
    &["i", "suppose"],
    &["i", "think"],
    &["maybe"],
    &["probably"],
    &["supposedly"],
    &["apparently"],
    &["i", "believe"],
    &["hopefully"],
    &["i", "hope"],
    &["or", "so"],
    &["more", "or", "less"],
    &["or", "whatever"],
    &["i", "reckon"],
    &["i", "imagine"],
    &["perhaps"],
    &["roughly"],
    &["ish"],
    &["for", "now"],
    &["i", "think", "so"],
];

/// Verbs that, right after `to`, still need their object (`I'd like to book`).
pub(crate) fn is_transitive_verb(w: &str) -> bool {
    matches!(
        w,
        "book"
            | "order"
            | "get"
            | "make"
            | "buy"
            | "reserve"
            | "schedule"
            | "add"
            | "change"
            | "see"
            | "know"
            | "ask"
            | "speak"
            | "report"
            | "set"
            | "have"
            | "take"
            | "bring"
            | "send"
            | "put"
            | "give"
            | "find"
            | "update"
            | "move"
            | "switch"
            | "return"
            | "rent"
            | "request"
            | "discuss"
            | "confirm"
            | "check"
            | "file"
            | "open"
            | "replace"
            | "transfer"
            | "arrange"
    )
}

/// The head of a spoken year (`nineteen eighty five`, `two thousand twelve`).
pub(crate) fn is_year_head(w: &str) -> bool {
    matches!(w, "nineteen" | "thousand")
        || (w.len() == 4 && (w.starts_with("19") || w.starts_with("20")) && w.bytes().all(|b| b.is_ascii_digit()))
}

/// Tens words, which combine with a following unit (`eighty five` is two digits).
pub(crate) fn is_tens_word(w: &str) -> bool {
    matches!(
        w,
        "twenty" | "thirty" | "forty" | "fifty" | "sixty" | "seventy" | "eighty" | "ninety"
    )
}

/// Requests that the assistant stop talking or let the caller finish.
pub(crate) const STOP_PHRASES: &[&[&str]] = &[
    &["stop", "talking"],
    &["stop", "speaking"],
    &["quit", "talking"],
    &["stop", "interrupting"],
    &["be", "quiet"],
    &["shut", "up"],
    &["let", "me", "finish"],
    &["let", "me", "talk"],
    &["let", "me", "speak"],
    &["not", "done"],
    &["not", "finished"],
    &["don't", "interrupt"],
    &["dont", "interrupt"],
    &["wait", "wait"],
    &["hold", "off"],
    &["wait", "don't"],
    &["wait", "dont"],
    &["don't", "transfer"],
    &["dont", "transfer"],
    &["don't", "hang", "up"],
    &["dont", "hang", "up"],
    &["wasn't", "done"],
    &["wasnt", "done"],
    &["wasn't", "finished"],
    &["wasnt", "finished"],
    &["you're", "interrupting"],
    &["youre", "interrupting"],
];

/// Words that make `stop` a verb with an object (`stop my subscription`, `stop the payment`, `stop service`).
pub(crate) fn is_transitive_object(w: &str) -> bool {
    matches!(
        w,
        "payment"
            | "payments"
            | "service"
            | "delivery"
            | "deliveries"
            | "sending"
            | "charging"
            | "billing"
            | "mail"
            | "calls"
            | "them"
            | "him"
            | "her"
            | "auto"
            | "automatic"
            | "autopay"
            | "check"
            | "by"
            | "at"
            | "in"
            | "on"
            | "working"
            | "using"
            | "calling"
            | "texting"
            | "emailing"
    )
}
