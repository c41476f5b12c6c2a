//! Behaviour of the decision, cue by cue. Each case runs twice: as written, and as a transcriber without
//! punctuation returns it (lowercase, no punctuation marks). Both must fire the cue and land on the same side
//! of a realistic pause.

use endpointing::eval::PAUSE_SECONDS;
use endpointing::{Cue, EndpointingConfig, Turn, decide};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Answer before a realistic pause ends.
    Speak,
    /// Wait at least a realistic pause.
    Wait,
}
use Expect::{Speak, Wait};

fn unpunctuated(text: &str) -> String {
    let kept: String = text
        .to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() || c == '\'' { c } else { ' ' })
        .collect();
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Checks one case with and without punctuation.
fn check(context: Option<&str>, text: &str, cue: Cue, expect: Expect) {
    let config = EndpointingConfig::default();
    for variant in [text.to_owned(), unpunctuated(text)] {
        let decision = decide(
            &Turn {
                user: &variant,
                assistant: context,
            },
            &config,
        );
        assert!(
            decision.cues.contains(cue),
            "{variant:?}: expected cue {cue}, got [{}]",
            decision.cues
        );
        let got = if decision.timeout_seconds < PAUSE_SECONDS {
            Speak
        } else {
            Wait
        };
        assert_eq!(
            got, expect,
            "{variant:?} (context {context:?}): timeout {:.2} s, P(complete) {:.2}, cues [{}]",
            decision.timeout_seconds, decision.complete_probability, decision.cues
        );
    }
}

fn check_all(cue: Cue, cases: &[(Option<&str>, &str, Expect)]) {
    for (context, text, expect) in cases {
        check(*context, text, cue, *expect);
    }
}

#[test]
fn terminal_punctuation_speaks_fast() {
    let config = EndpointingConfig::default();
    for text in ["I just dropped the trailer at the yard.", "That's great!"] {
        let decision = decide(&Turn::new(text), &config);
        assert!(decision.cues.contains(Cue::TerminalPunctuation));
        assert!(decision.timeout_seconds < 0.1, "{text}: {}", decision.timeout_seconds);
    }
}

#[test]
fn question_form_speaks_with_or_without_question_mark() {
    check_all(
        Cue::QuestionForm,
        &[
            (None, "Can you send me the rate confirmation again?", Speak),
            (None, "What time do you close today?", Speak),
            (None, "How long will that take?", Speak),
            (None, "Is breakfast included?", Speak),
            (None, "So, where do I park when I get there?", Speak),
        ],
    );
}

#[test]
fn trailing_conjunction_waits() {
    check_all(
        Cue::TrailingConjunction,
        &[
            (None, "I can pick up Thursday morning, but", Wait),
            (None, "The rate works for me, although...", Wait),
            (None, "We can do the drop trailer, and", Wait),
            (None, "The app keeps crashing whenever", Wait),
            (None, "I'll keep the reservation, even though", Wait),
        ],
    );
}

#[test]
fn trailing_preposition_waits() {
    check_all(
        Cue::TrailingPreposition,
        &[
            (
                Some("How can I help you today?"),
                "Hi, I'd like to book a cleaning for",
                Wait,
            ),
            (None, "So after I deliver in Phoenix I was planning to...", Wait),
            (None, "I'm calling about", Wait),
            (None, "Can you transfer me to", Wait),
        ],
    );
}

#[test]
fn particles_are_not_prepositions() {
    let config = EndpointingConfig::default();
    for text in [
        "Can you sign me up?",
        "I already checked in.",
        "Hold that thought, I've got another call coming in.",
    ] {
        let decision = decide(&Turn::new(text), &config);
        assert!(
            !decision.cues.contains(Cue::TrailingPreposition),
            "{text}: [{}]",
            decision.cues
        );
    }
}

#[test]
fn trailing_article_waits() {
    check_all(
        Cue::TrailingArticle,
        &[
            (None, "The main issue with that lane is the...", Wait),
            (None, "I'd like to order the", Wait),
            (None, "Please send it to my", Wait),
            (None, "Can I get a", Wait),
        ],
    );
}

#[test]
fn trailing_auxiliary_waits_unless_a_short_answer() {
    check_all(
        Cue::TrailingAuxiliary,
        &[
            (None, "The reason I'm calling is", Wait),
            (None, "What I really need is", Wait),
            (None, "Can you tell the receiver that my ETA is now...", Wait),
        ],
    );
    check_all(
        Cue::ShortAnswer,
        &[
            (Some("Can you make it at eight?"), "Yes, I can.", Speak),
            (Some("Is this your first visit?"), "No, it isn't.", Speak),
            (Some("Would you like to add insurance?"), "I'd love to.", Speak),
            (Some("Okay. Do you want to keep the appointment?"), "I want to", Speak),
            (None, "Yes I can", Speak),
        ],
    );
    // Without a yes/no question (or a yes), `I need to` opens a request: the dangling `to` decides.
    check_all(
        Cue::TrailingPreposition,
        &[
            (Some("How can I help?"), "I need to", Wait),
            (None, "I'd like to", Wait),
            (Some("What can I do for you?"), "I want to", Wait),
        ],
    );
}

#[test]
fn do_you_opens_a_question_not_an_acknowledgement() {
    let config = EndpointingConfig::default();
    for (assistant, user) in [
        (None, "Do you"),
        (Some("How can I help?"), "do you"),
        (None, "do you have"),
    ] {
        let decision = decide(&Turn { user, assistant }, &config);
        assert!(
            !decision.cues.contains(Cue::Acknowledgement),
            "{user:?}: [{}]",
            decision.cues
        );
        assert!(decision.timeout_seconds >= PAUSE_SECONDS, "{user:?}: {decision:?}");
    }
    let will_do = decide(&Turn::new("okay will do"), &config);
    assert!(will_do.cues.contains(Cue::Acknowledgement), "[{}]", will_do.cues);
}

#[test]
fn trailing_filler_waits() {
    check_all(
        Cue::TrailingFiller,
        &[
            (None, "Yeah so, um, the thing is, uh...", Wait),
            (None, "I wanted to ask about, like, um...", Wait),
            (None, "Well, I mean, it's kind of, um...", Wait),
            (None, "It's sort of", Wait),
        ],
    );
    check(None, "Okay so basically, you know, I...", Cue::TrailingSubject, Wait);
}

#[test]
fn unfinished_list_and_announcements_wait() {
    check_all(
        Cue::AnnouncedContinuation,
        &[
            (Some("Anything else?"), "Actually yeah, one more thing.", Wait),
            (None, "I have two things.", Wait),
            (None, "Quick question.", Wait),
        ],
    );
    check_all(
        Cue::UnfinishedList,
        &[
            (None, "First, I need to change the date", Wait),
            (None, "Firstly, the invoice is wrong", Wait),
        ],
    );
}

#[test]
fn dictation_waits_until_the_readout_is_complete() {
    check_all(
        Cue::Dictation,
        &[
            (Some("Can I get your MC number?"), "Yeah, it's seven one five...", Wait),
            (Some("What's the PO on that?"), "PO is alpha bravo two two...", Wait),
            (
                Some("Best callback number?"),
                "You can reach me at four one five, five five...",
                Wait,
            ),
            (None, "The trailer number ends in three, seven...", Wait),
            (Some("What is your phone number?"), "It's 415 555", Wait),
            (Some("Can you spell your last name?"), "It's K O W A L", Wait),
            (Some("What's your email address?"), "It's john dot smith at", Wait),
            (None, "My card number is 4532 7721", Wait),
        ],
    );
    check_all(
        Cue::DictationComplete,
        &[
            (Some("What is your phone number?"), "It's 415 555 0123.", Speak),
            (Some("What's your zip code?"), "It's six zero six one four.", Speak),
            (
                Some("What's your date of birth?"),
                "March third, nineteen eighty five.",
                Speak,
            ),
        ],
    );
}

#[test]
fn the_question_being_answered_matters() {
    let config = EndpointingConfig::default();
    let without = decide(&Turn::new("It's 415"), &config);
    let after_question = decide(&Turn::answering("What is your phone number?", "It's 415"), &config);
    assert!(!without.cues.contains(Cue::Dictation), "[{}]", without.cues);
    assert!(after_question.cues.contains(Cue::Dictation));
    // The model alone already reads a bare number as unfinished; after the question the dictation cue makes it
    // certain.
    assert!(after_question.timeout_seconds > 2.0, "{after_question:?}");
}

#[test]
fn requests_for_time_wait_long() {
    let hold = EndpointingConfig::default().wait_function().hold_seconds;
    for text in [
        "Hang on, let me grab the load number...",
        "Let me check my rate con real quick...",
        "Give me a second to find the BOL...",
        "Hold on.",
        "Wait a sec, I need to find my glasses.",
    ] {
        check(None, text, Cue::HoldRequest, Wait);
        let decision = decide(&Turn::new(text), &EndpointingConfig::default());
        assert!(decision.timeout_seconds >= hold, "{text}: {}", decision.timeout_seconds);
    }
    check_all(
        Cue::StepAway,
        &[
            (None, "Hold on, the receiver is waving at me...", Speak),
            (None, "One second, someone's at the door.", Speak),
            (None, "Wait, let me ask my dispatcher...", Speak),
        ],
    );
}

#[test]
fn short_acknowledgements_speak() {
    check_all(
        Cue::Acknowledgement,
        &[
            (Some("The dock closes at six pm today."), "Okay, got it.", Speak),
            (Some("I'll email you the updated BOL."), "Perfect, thanks.", Speak),
            (Some("Your check call is set for noon."), "Sounds good.", Speak),
            (None, "Alright.", Speak),
            (Some("Anything else?"), "No, that's all.", Speak),
            (None, "Yeah.", Speak),
        ],
    );
    // An acknowledgement that opens a new sentence is not one.
    let decision = decide(&Turn::new("okay so"), &EndpointingConfig::default());
    assert!(!decision.cues.contains(Cue::Acknowledgement));
}

#[test]
fn self_corrections_wait_and_retractions_speak() {
    check_all(
        Cue::SelfCorrection,
        &[
            (None, "Can you- actually, you know what...", Wait),
            (None, "The pickup is at- sorry, I'm reading the wrong load...", Wait),
            (None, "I want to counter at- okay wait...", Wait),
            (None, "My number is 4 1- no,", Wait),
        ],
    );
    check_all(
        Cue::Retraction,
        &[
            (None, "I need the- no, scratch that...", Speak),
            (None, "Can you also- no, forget it.", Speak),
        ],
    );
}

#[test]
fn hedges_hand_the_turn_over() {
    check_all(
        Cue::Hedge,
        &[
            (None, "That's all I need, I guess...", Speak),
            (None, "I could probably make it by three, maybe...", Speak),
            (None, "I'll take the Denver load, I suppose...", Speak),
            (None, "That should be everything, I think.", Speak),
        ],
    );
}

#[test]
fn presets_order_their_timeouts() {
    use endpointing::Preset;
    let turn = Turn::new("I'd like to book a cleaning for");
    let [fast, balanced, patient] = [Preset::Fast, Preset::Balanced, Preset::Patient]
        .map(|p| decide(&turn, &EndpointingConfig::preset(p)).timeout_seconds);
    assert!(fast < balanced && balanced < patient, "{fast} {balanced} {patient}");
}
