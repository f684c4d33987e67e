"""Build the bundled English movie-review set (data/reviews_en_train.tsv, data/reviews_en_test.tsv).

Written for this course by the course authors (2026-11-28); released under CC0 1.0.
Every sentence below was hand-written for this project; nothing is taken from IMDB, SST, NSMC
or any other dataset. The script combines hand-written openers, premises, aspect clauses,
genre clauses and verdicts with a seeded RNG, and adds hand-written standalone reviews
(short ones, sarcastic ones, long ones). Standard library only; deterministic:

    python data/build_reviews.py

rewrites both TSV files byte-identically. Format (NSMC style): header ``id<TAB>document<TAB>label``,
label 0 = negative, 1 = positive, UTF-8, ``\\n`` line endings.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

SEED = 20261128
N_PER_LABEL = 600  # 1,200 reviews in total
N_TEST_PER_LABEL = 120  # 960 train / 240 test, balanced in both
OUT_DIR = Path(__file__).resolve().parent

# ---------------------------------------------------------------------------------------------
# Genres: (singular, plural, premises, positive clauses, negative clauses)
# ---------------------------------------------------------------------------------------------
GENRES = {
    "horror": (
        "horror movie", "horror movies",
        ["It's about a family that moves into an old farmhouse and starts hearing things in the walls.",
         "A group of college friends rents a cabin, and you can guess how that goes.",
         "The story follows a night nurse who notices patients disappearing from one ward."],
        ["the jump scares are earned, not cheap",
         "the tension in the basement scene had me holding my breath",
         "it's genuinely scary, and I slept with the lights on afterwards",
         "the dread builds slowly until you can barely watch"],
        ["it's not scary at all",
         "every scare is a cheap jump scare with a loud noise",
         "the monster is more silly than scary",
         "you can see every scare coming a mile away"],
    ),
    "comedy": (
        "comedy", "comedies",
        ["Two estranged brothers have to drive their grandmother's ashes across the country.",
         "It follows a wedding planner whose own wedding keeps going wrong.",
         "The premise is a failed magician who accidentally becomes a cult leader."],
        ["I laughed out loud more times than I can count",
         "the jokes still land on a second watch",
         "the whole theater was crying with laughter",
         "the running gag with the parrot gets funnier every time"],
        ["I didn't laugh once",
         "all the funny parts were already in the trailer",
         "the humor is mean-spirited and lazy",
         "every joke is stretched way past the point of being funny"],
    ),
    "romance": (
        "romance", "romances",
        ["Two strangers keep running into each other at the same train station every winter.",
         "A bookshop owner falls for the developer who wants to tear her shop down.",
         "It's a love story between a chef and a food critic who destroyed her restaurant."],
        ["the romance feels real and earned",
         "the two leads are adorable together",
         "it's sweet without ever being cheesy",
         "the slow burn between the leads is worth the wait"],
        ["the romance comes out of nowhere",
         "the love story is cheesy in the worst way",
         "I didn't buy the relationship for a second",
         "the couple spends the whole movie arguing, and I couldn't see why they'd stay together"],
    ),
    "action": (
        "action movie", "action movies",
        ["A retired getaway driver is pulled back for one last job.",
         "It's basically one long fight through a hijacked cargo ship.",
         "The story follows a bodyguard protecting a witness across a city that wants her dead."],
        ["the action scenes are incredible",
         "the car chase alone is worth the ticket",
         "the stunts look real and genuinely dangerous",
         "the hallway fight is going to be talked about for years"],
        ["the action is loud but boring",
         "the fights are a blur of quick cuts",
         "there's so much action that it becomes numbing",
         "the hero never gets a scratch, so there's no tension at all"],
    ),
    "scifi": (
        "sci-fi movie", "sci-fi movies",
        ["A crew wakes up from hypersleep and finds out they've been asleep for two hundred years.",
         "It's about a scientist who receives messages from herself one week in the future.",
         "The story takes place on a mining colony where the oxygen is running out."],
        ["the world-building is fantastic",
         "the science is mostly believable, which I appreciated",
         "the ideas are big and the movie actually explores them",
         "the spaceship interiors feel used and real, not shiny and fake"],
        ["the world-building is confusing and half-baked",
         "the interesting sci-fi ideas get dropped for generic explosions",
         "the science is so wrong that it kept pulling me out of it",
         "the time travel rules change whenever the plot needs them to"],
    ),
    "drama": (
        "drama", "dramas",
        ["It follows three sisters who come home when their father gets sick.",
         "A high school teacher tries to keep her class together in a town where the factory just closed.",
         "The story is about a widower learning to cook his late wife's recipes."],
        ["it's emotionally honest and never manipulative",
         "the family scenes feel painfully real",
         "it's heavy, but it's worth it",
         "the quiet moments hit harder than the big speeches"],
        ["it tries so hard to make you cry that it backfires",
         "it's misery for the sake of misery",
         "the drama feels forced and melodramatic",
         "every conflict could be solved with one honest conversation"],
    ),
    "animation": (
        "animated movie", "animated movies",
        ["A lost robot tries to find its way back to the junkyard it calls home.",
         "It's about a young fox who wants to join the city's night orchestra.",
         "The story follows a cloud that is afraid of raining."],
        ["the animation is stunning",
         "it works for kids and adults alike",
         "every frame is packed with little details",
         "the jokes for the parents are just as good as the ones for the kids"],
        ["the animation looks cheap and stiff",
         "it's just noise and bright colors aimed at toddlers",
         "the humor is almost all bathroom jokes",
         "the talking animal sidekick is exhausting"],
    ),
    "thriller": (
        "thriller", "thrillers",
        ["A woman notices the same car parked outside her apartment every night.",
         "It's about a juror who starts to suspect the other jurors were paid off.",
         "The story follows a night-shift security guard who witnesses something on the cameras."],
        ["the tension never lets up",
         "I was on the edge of my seat the whole time",
         "the suspense is built with real skill",
         "the phone call scene is one of the most nerve-wracking things I've seen"],
        ["the thriller has no thrills",
         "the suspense evaporates once you guess the killer, which takes about ten minutes",
         "the tension just isn't there",
         "the red herrings are so obvious that it's insulting"],
    ),
    "documentary": (
        "documentary", "documentaries",
        ["It's a documentary about the last lighthouse keepers on the northern coast.",
         "The film follows a youth chess team from a tiny rural school.",
         "It looks at how one small town fought a chemical plant for twenty years."],
        ["it's informative without being dry",
         "the interviews are fascinating",
         "it made me want to read everything I could about the subject",
         "the archive footage is incredible"],
        ["it's basically a long advertisement",
         "it's one-sided and preachy",
         "the interviews are dull and repetitive",
         "it covers maybe twenty minutes of material in ninety minutes"],
    ),
    "musical": (
        "musical", "musicals",
        ["A small-town choir enters a national competition to save their church.",
         "It follows a street busker who gets one shot at a record deal.",
         "The story is about a dance school on the night before it closes for good."],
        ["the musical numbers are spectacular",
         "every single song is a banger",
         "the choreography is amazing",
         "the big group number in the middle is pure joy"],
        ["the songs all sound the same",
         "the singing is autotuned to death",
         "the musical numbers stop the story cold",
         "not one song stuck with me after I left"],
    ),
    "war": (
        "war film", "war films",
        ["It follows a small unit trying to reach a bridge before it's blown up.",
         "The story is told from the point of view of a field medic.",
         "It's about two brothers who end up fighting on opposite sides."],
        ["the battle scenes are terrifying and real",
         "it shows the cost of war without glorifying it",
         "the opening battle is unforgettable",
         "the quiet scenes between battles are the most moving part"],
        ["the battle scenes are chaotic and confusing",
         "it glorifies war in a really uncomfortable way",
         "the war scenes feel like watching someone else play a video game",
         "the soldiers are all the same grim guy with a different haircut"],
    ),
    "fantasy": (
        "fantasy film", "fantasy films",
        ["A blacksmith's daughter finds a sword that only talks to her.",
         "It's about a thief hired to steal a dragon egg from a king.",
         "The story follows an old wizard who has forgotten all his spells."],
        ["the world feels rich and lived-in",
         "the magic system is clever and actually has rules",
         "the creatures and costumes are amazing",
         "it has that old-fashioned sense of adventure I've missed"],
        ["the made-up names and lore are impossible to follow",
         "the magic has no rules, so nothing ever feels at stake",
         "it's a cheap knockoff of much better fantasy films",
         "the prophecy plot is the most predictable thing I've seen in years"],
    ),
    "crime": (
        "crime movie", "crime movies",
        ["A crew of aging thieves plans one last heist at a casino.",
         "It's about a rookie detective working her first murder case in a small port town.",
         "The story follows an accountant who discovers his boss is laundering money."],
        ["the heist is clever and fun to watch",
         "the detective work is actually smart",
         "the gangster scenes are tense and gritty",
         "every double-cross made me gasp"],
        ["the heist plan makes no sense",
         "the cops are so dumb that it's insulting",
         "the crime story is a pile of clichés",
         "the twist that the partner was dirty all along surprised no one"],
    ),
}

LEADS = ["the lead", "the main actor", "the lead actress", "the young lead", "the star",
         "the guy who plays the brother", "the actress playing the mother", "the lead actor"]
VILLAINS = ["the villain", "the main bad guy", "the guy playing the villain", "the antagonist"]

# ---------------------------------------------------------------------------------------------
# Aspect clauses (start lowercase, no final period). Polarity: "pos" / "neg".
# ---------------------------------------------------------------------------------------------
ASPECTS = {
    "acting": {
        "pos": [
            "the acting is excellent across the board",
            "{lead} gives the performance of a career here",
            "even the smaller roles are cast perfectly",
            "the two leads have real, easy chemistry",
            "{villain} is genuinely unsettling every second he's on screen",
            "the kid actors are natural and never annoying",
            "you completely forget you're watching actors",
            "{lead} sells every emotional beat without overdoing it",
            "the supporting cast steals a few scenes, in a good way",
            "the performances feel lived-in and honest",
            "I'd watch {lead} read a phone book at this point",
            "the whole cast looks like they're having fun, and it's contagious",
            "there isn't a weak performance in the bunch",
            "{lead} does more with a single look than most actors do with a monologue",
        ],
        "neg": [
            "the acting is wooden from start to finish",
            "{lead} delivers every line like a hostage reading a statement",
            "the leads have zero chemistry",
            "{villain} hams it up so much it turns into a parody",
            "half the cast seems to be in a different movie",
            "nobody reacts the way a real human being would",
            "the kid actor is painfully bad, and he's in almost every scene",
            "the performances are flat, like everyone is bored",
            "{lead} has exactly one facial expression and uses it for two hours",
            "the big emotional scene is overacted to the point of comedy",
            "the accents wander all over the map",
            "the famous cameo is distracting and adds nothing",
            "a great cast is wasted on nothing roles",
            "the supporting actors are stiff and forgettable",
        ],
    },
    "plot": {
        "pos": [
            "the plot is tight and every scene earns its place",
            "the story takes a few turns I honestly didn't see coming",
            "the twist actually holds up when you think about it",
            "it's a simple story told with a lot of heart",
            "the script trusts the audience to keep up",
            "the mystery unfolds at just the right speed",
            "every subplot pays off by the end",
            "the writing is smart without being smug",
            "the story is surprisingly original for a {g}",
            "it keeps you guessing right up to the last scene",
            "the themes about family hit close to home",
            "the setup in the first act pays off beautifully later",
            "the story never talks down to you",
        ],
        "neg": [
            "the plot makes no sense whatsoever",
            "the story is full of holes you could drive a truck through",
            "you can guess the twist from the poster",
            "the script is lazy and leans on coincidences",
            "characters make stupid decisions just so the plot can happen",
            "the story goes nowhere for the first hour",
            "about three subplots just get dropped",
            "the whole thing is a patchwork of better movies",
            "the big reveal is both obvious and stupid",
            "nothing that happens has any consequences",
            "the plot is so convoluted that I stopped caring who was who",
            "it's the same tired story we've all seen a hundred times",
            "the script feels like a first draft",
        ],
    },
    "music": {
        "pos": [
            "the score is gorgeous and I've been humming it all week",
            "the soundtrack picks are perfect",
            "the music does a lot of the emotional heavy lifting, in the best way",
            "the sound design in the quiet scenes is incredible",
            "the songs are catchy and actually move the story forward",
            "the score swells at exactly the right moments",
            "I bought the soundtrack on the way home",
            "the use of silence is as effective as the music",
            "the opening theme gave me goosebumps",
            "the music fits the period perfectly",
        ],
        "neg": [
            "the music is so loud it drowns out the dialogue",
            "the score tells you what to feel every ten seconds",
            "the soundtrack is a pile of random pop songs",
            "the same sad piano theme plays about forty times",
            "the songs are forgettable and stop the movie dead",
            "the sound mix is a mess",
            "the score is generic and instantly forgettable",
            "the music cues are so on the nose it's almost funny",
            "every scene has a needle drop that doesn't fit",
            "the theme song is annoying and they use it constantly",
        ],
    },
    "pacing": {
        "pos": [
            "the pacing is spot on and two hours fly by",
            "not a single scene drags",
            "it builds slowly, but the payoff is worth every minute",
            "it moves fast without ever feeling rushed",
            "the editing is crisp and keeps the energy up",
            "I never once checked the time",
            "the last forty minutes are nonstop",
            "it knows exactly when to slow down and let a moment breathe",
            "the runtime is long, but it never feels long",
            "it's lean, with no filler at all",
        ],
        "neg": [
            "the pacing is painfully slow",
            "it drags terribly in the middle",
            "it's at least forty minutes too long",
            "the first hour is nothing but setup",
            "the ending feels rushed after all that buildup",
            "I checked my phone more times than I can count",
            "scenes go on long after the point has been made",
            "the editing is choppy and hard to follow",
            "it feels like three episodes of a TV show glued together",
            "there's way too much filler",
            "it somehow feels both rushed and boring",
        ],
    },
    "visuals": {
        "pos": [
            "the effects are seamless",
            "the visual effects hold up even on a huge screen",
            "the practical effects look amazing",
            "the action is shot clearly, so you can actually tell what's going on",
            "the creature design is creepy and original",
            "the cinematography is beautiful, and almost every shot could be a painting",
            "the colors and lighting are gorgeous",
            "the set design makes the world feel real",
            "the costumes are incredible",
            "the fight choreography is the best I've seen in years",
            "the camera work during the chase is breathtaking",
        ],
        "neg": [
            "the CGI looks like a video game from 2005",
            "the effects are cheap and obvious",
            "the night scenes are so dark you can't see anything",
            "the shaky cam gave me a headache",
            "the green screen is painfully obvious",
            "the monster looks like a guy in a rubber suit, and not in a charming way",
            "the cinematography is flat and ugly",
            "the fight scenes are cut so fast they're impossible to follow",
            "the de-aging effect is really distracting",
            "everything looks gray and muddy",
        ],
    },
    "dialogue": {
        "pos": [
            "the dialogue is sharp and genuinely funny",
            "the conversations feel natural, like real people talking",
            "there are lines I'll be quoting for weeks",
            "the banter between the leads is a joy",
            "even the exposition is written cleverly",
            "the jokes land, and not just the obvious ones",
            "the quiet conversations are the best part",
            "the script has a great ear for how friends actually talk",
            "the line \"you don't get to leave first\" wrecked me",
        ],
        "neg": [
            "the dialogue is clunky and full of exposition",
            "nobody in real life talks like this",
            "the jokes fall flat every single time",
            "characters keep explaining the plot to each other",
            "the one-liners are painfully cringe",
            "the line \"we're not so different, you and I\" actually shows up, unironically",
            "half the dialogue is people yelling each other's names",
            "the romantic lines made the whole theater groan",
            "the dialogue sounds like it was run through a translator twice",
        ],
    },
    "ending": {
        "pos": [
            "the ending is perfect",
            "the final scene left me in tears",
            "the ending ties everything together beautifully",
            "the last shot is going to stay with me for a while",
            "the ending is bittersweet and earned",
            "the finale is the best part of the whole thing",
            "the ending is open, but in a satisfying way",
            "the final twist recontextualizes everything in a great way",
        ],
        "neg": [
            "the ending is a total cop-out",
            "the ending just stops, like they ran out of money",
            "the final twist ruins everything that came before",
            "the ending is so sappy it undoes the whole movie",
            "the ending sets up a sequel nobody asked for",
            "the ending made absolutely no sense",
            "the finale is a loud, messy blur",
            "the last ten minutes undo everything the story built",
        ],
    },
    "experience": {
        "pos": [
            "the whole theater clapped at the end",
            "I was grinning the entire time",
            "my friends and I talked about it all the way home",
            "my dad, who hates everything, laughed the whole way through",
            "I forgot about my phone for two full hours",
            "I left feeling lighter than when I came in",
            "the audience gasped out loud at the big reveal",
            "I immediately texted three people to go see it",
        ],
        "neg": [
            "two people in my row left early",
            "I caught myself checking the time again and again",
            "my friend fell asleep and I honestly envied him",
            "nobody in the theater laughed, not once",
            "I spent the second half planning my grocery list",
            "the guy next to me was snoring, and he had the right idea",
            "I had forgotten most of it by the time I got to the car",
            "I kept waiting for it to get going, and it never did",
        ],
    },
    "characters": {
        "pos": [
            "the characters feel like real people",
            "I cared about every single character",
            "{villain} actually has a motive that makes sense",
            "the main character grows in a way that feels earned",
            "the friendship at the center is really touching",
            "the sidekick is funny without being annoying",
            "even the \"bad guys\" get a bit of humanity",
        ],
        "neg": [
            "I didn't care about a single character",
            "the main character is unbearably annoying",
            "{villain} has no real motivation",
            "the characters are cardboard cutouts",
            "the love interest exists only to be rescued",
            "the comic relief character is unbearable",
            "the so-called \"genius\" hero never does anything smart",
        ],
    },
}

# ---------------------------------------------------------------------------------------------
# Openers: neutral context, no polarity. {g} = genre singular, {gs} = plural.
# ---------------------------------------------------------------------------------------------
OPENERS = [
    "Watched this on a long flight.",
    "Saw it on opening night with a packed crowd.",
    "My wife picked this one for date night.",
    "I went in knowing nothing about it.",
    "Rented this on a whim after seeing the trailer.",
    "I'd been waiting for this since the first teaser.",
    "Caught the late show on a Tuesday, so the theater was half empty.",
    "My kids begged me to take them.",
    "I read the book first, for what it's worth.",
    "Finally got around to watching this after a friend kept bugging me.",
    "Went with my parents, which might have been a mistake.",
    "Streamed it last night with my roommate.",
    "I saw this at a festival screening with the director in the room.",
    "Second time watching it, first time on the big screen.",
    "Full disclosure: I'm a huge fan of the director.",
    "I only went because the cinema near me had nothing else on.",
    "Took my dad for his birthday.",
    "I had pretty low expectations going in.",
    "Everyone at work kept talking about it, so I caved.",
    "Watched it in three sittings because of the baby.",
    "I saw the original years ago and barely remember it.",
    "Went to the matinee with my grandma.",
    "I'll try to keep this spoiler-free.",
    "Just got back from the theater.",
    "This popped up on my recommendations, so why not.",
    "We watched it for movie club this month.",
    "My boyfriend has been talking about this for months.",
    "I waited for the reviews before going, for once.",
    "Had a free ticket, so I figured I'd give it a shot.",
    "Watched this at 2am because I couldn't sleep.",
    "Okay, where do I even start.",
    "Long review, sorry in advance.",
    "So I finally saw it.",
    "My sister dragged me to this one.",
    "First movie I've seen in a theater since moving.",
    "Saw it in IMAX, for what that's worth.",
    "The trailer made this look like something else entirely.",
    "Went in as a fan of the first one.",
    "I'm not a critic, just someone who watches a lot of movies.",
    "I put this on as background noise while folding laundry.",
    "I'm not usually into {gs}, but this one had good buzz.",
    "As someone who watches a lot of {gs}, I had high hopes.",
    "It's been a while since I saw a {g} in the theater.",
    "I'll watch pretty much any {g}, so take this for what it's worth.",
    "My friend swore this was the best {g} of the year.",
    "I don't normally watch {gs}, but my partner loves them.",
    "Needed a good {g} after a rough week.",
    "I grew up on {gs} like this.",
]

# ---------------------------------------------------------------------------------------------
# Verdicts (full sentences). "plain" are direct; "hard" use negation, sarcasm or words of the
# opposite polarity, so a bag of words cannot read the label off a single word.
# ---------------------------------------------------------------------------------------------
VERDICTS = {
    "pos": {
        "plain": [
            "Highly recommend it.", "Go see it on the biggest screen you can.", "I'll definitely watch it again.",
            "One of the best films I've seen this year.", "Loved it.", "Absolutely worth the ticket price.",
            "A must-see.", "I'm already planning to see it again.", "Ten out of ten.", "9/10.",
            "Easily my favorite movie of the year.", "Worth every penny.", "Go watch it, seriously.",
            "I'd recommend it to anyone.", "What a great night at the movies.",
            "Can't wait to show it to my friends.", "It's a gem.", "An instant classic for me.",
            "I walked out smiling.", "Just a really good movie.", "Solid 8/10.", "A great time.",
            "Bring tissues, and go see it.", "Still thinking about it days later.",
            "Best money I've spent on a ticket in a while.", "My whole family loved it.",
            "I'm buying it the day it comes out.", "Easy recommendation.",
        ],
        "hard": [
            "Not bad at all.", "Not perfect, but I'd watch it again tomorrow.",
            "I didn't expect much, and I was completely wrong.", "You won't regret it.", "Never a dull moment.",
            "I was not disappointed.", "Can't recommend it enough.", "No complaints from me.",
            "I have no idea why the critics hated it.", "Don't listen to the bad reviews.", "Don't miss this one.",
            "Not a single wasted minute.", "It's not a perfect movie, but it's a great one.",
            "I hate that I loved it this much.", "It's dumb, loud, and I had an absolute blast.",
            "I cried like a baby. Ten out of ten.", "It wrecked me, in the best way.",
            "Ignore the terrible trailer, the movie is great.", "Nothing about it is boring.",
            "I never wanted it to end.", "Flaws and all, I loved it.", "I wasn't sure at first, but it won me over.",
            "Don't let the slow start fool you.", "I can't stop thinking about it, and I don't want to.",
            "It's messy, it's weird, and I wouldn't change a thing.", "It broke my heart, and I'd go again.",
            "My friends hated it. They're wrong.", "I didn't want to like it, but here we are.",
            "It's silly, and it knows it, and that's why it works.",
            "No, it's not high art. Yes, I loved every minute.",
        ],
    },
    "neg": {
        "plain": [
            "Skip it.", "Not worth your time.", "I want my money back.", "Avoid.",
            "What a waste of a good cast.", "Save your money.", "One of the worst movies I've seen in years.",
            "Terrible.", "I walked out halfway through.", "Wait for it to hit streaming, or better yet, don't.",
            "2/10.", "Just bad.", "Very disappointing.", "I'd rather watch paint dry.", "Pass.",
            "A complete mess.", "Boring, boring, boring.", "I regret watching it.",
            "Do yourself a favor and watch something else.", "Awful from start to finish.",
            "I left the theater annoyed.", "Forgettable at best.", "What a letdown.",
            "I honestly can't believe this got made.", "My whole row was yawning.", "Solid 3/10.",
            "Nobody needs to see this.", "I feel bad for everyone involved.",
        ],
        "hard": [
            "I did not enjoy a single minute of it.", "Not worth the ticket price.", "Can't recommend it.",
            "I wouldn't watch it again even for free.", "Oh great, another two hours of my life I'll never get back.",
            "Truly a masterpiece, if your goal is to fall asleep.", "Best nap I've had all year.",
            "Wow, what a thrill. I only checked my watch eleven times.", "Brilliant, if you love staring at a wall.",
            "Good cast, great trailer, terrible movie.", "The popcorn was the best part.",
            "Looks great, says nothing.", "It's not the worst movie ever, but it's close.",
            "Some people will love it. I'm not one of them.", "I wanted to like it, I really did.",
            "Beautiful to look at, painful to sit through.", "Fantastic, if you've never seen a movie before.",
            "My favorite part was the credits.", "I loved the trailer. Shame about the movie.",
            "Amazing how they made something this expensive this boring.",
            "Sure, it's pretty. So is a screensaver.", "Not good, not even fun-bad.",
            "I'm sure somebody out there loves this. Good for them.", "The best thing I can say is that it ends.",
            "Great, just great. Now I need a drink.", "Loved the parking lot, though.",
            "I really wanted this to be good.", "Perfect if you need help falling asleep.",
            "Everyone around me loved it, and I have no idea why.", "It isn't terrible, it's just not good either.",
        ],
    },
}

# "Flip" reviews: the listed aspects lean one way and the overall verdict the other way
# (guilty pleasures; polished but empty films). Only the verdict decides the label here.
FLIP_VERDICTS = {
    "pos": [
        "And somehow I loved every minute of it.", "None of that matters. It's the most fun I've had all year.",
        "Guilty pleasure, and I'm not sorry.", "So bad it's good. I'd watch it again tonight.",
        "And yet I had a great time anyway.", "Doesn't matter, I was smiling the whole way through.",
        "Still, I'd happily watch it again with a bunch of friends.", "I know all that, and I still adore it.",
        "On paper it's a mess. In the theater, it's a blast.", "Somehow it all works, and I can't explain why.",
    ],
    "neg": [
        "And yet I was bored out of my mind.", "All of that, and it still left me completely cold.",
        "Technically impressive, emotionally empty. Skip.", "Somehow none of it adds up to a movie worth watching.",
        "It's all polish and no soul.", "Good parts, bad movie.", "Still, I couldn't wait for it to end.",
        "On paper it should work. It doesn't.", "Impressive, sure, but I never want to see it again.",
        "Too bad none of it made me feel a thing.",
    ],
}

# Contrast templates: {o} = clause of the opposite polarity, {s} = clause of the review's polarity.
CONTRASTS = [
    "{O}, but {s}.", "Sure, {o}, but {s}.", "{S}, even if {o}.", "{O}. Still, {s}.",
    "I'll admit {o}. That said, {s}.", "Yes, {o}. But {s}.", "While {o}, {s}.", "{S}, although {o}.",
    "{O}, and yet {s}.", "Okay, {o}. The problem is that {s}.", "{O}. Unfortunately, {s}.",
    "{O}. Thankfully, {s}.", "Granted, {o}. Even so, {s}.", "{O}, which I liked, but {s}.",
]
# Which contrast templates only make sense for one label.
CONTRAST_LABEL_ONLY = {"{O}. Unfortunately, {s}.": "neg", "{O}. Thankfully, {s}.": "pos",
                       "Okay, {o}. The problem is that {s}.": "neg", "{O}, which I liked, but {s}.": "neg"}

# Sarcastic wrappers for a negative clause (negative reviews only).
SARCASM = [
    "Loved how {c}. Really top-notch stuff.", "And my favorite part? {C}.", "Oh, and {c}. Fantastic.",
    "Bonus points because {c}.", "Nothing says quality like the fact that {c}.",
    "Oh wonderful, {c}. Just what I wanted.", "Truly inspired choice: {c}.",
]
# Wrappers that put negative words into positive reviews.
TURNAROUND = [
    "I was ready to hate it, but {c}.", "I expected a disaster. Instead, {c}.",
    "Everyone told me it was boring, but {c}.", "I thought it would be awful. Turns out {c}.",
    "People complain that it's slow, but honestly {c}.", "The trailer looked terrible, but {c}.",
]
# Frames for a single clause: the first one in a review, and later ones (with a connector).
FIRST_FRAMES = ["{C}.", "{C}.", "{C}.", "{C}.", "Honestly, {c}.", "I have to say {c}.", "First of all, {c}.",
                "Right from the start, {c}."]
LATER_FRAMES = ["{C}.", "{C}.", "{C}.", "Also, {c}.", "On top of that, {c}.", "And {c}.", "Seriously, {c}.",
                "Plus, {c}.", "What's more, {c}.", "Oh, and {c}."]
# A clause of the opposite polarity, conceded on its own (the verdict still decides the label).
CONCESSIONS = {
    "pos": ["My only complaint is that {o}.", "To be fair, {o}.", "Sure, {o}.", "If I'm nitpicking, {o}.",
            "Okay, {o}, but who cares.", "I know, I know, {o}.", "Not everything works: {o}."],
    "neg": ["To be fair, {o}.", "I'll give it this: {o}.", "The one good thing is that {o}.", "In fairness, {o}.",
            "Credit where it's due, {o}.", "I'll admit {o}.", "Okay, {o}."],
}

# ---------------------------------------------------------------------------------------------
# Hand-written standalone reviews.
# ---------------------------------------------------------------------------------------------
SHORT = {
    "pos": [
        "Loved every minute.", "Absolutely brilliant.", "Best movie this year.", "Go see it!", "Pure magic.",
        "not bad at all", "Made me cry, twice.", "Fun from start to finish.", "Worth the hype.",
        "A total gem.", "10/10 would watch again", "So so good.", "Instant favorite.",
        "Beautiful, just beautiful.", "Way better than expected.", "Funniest movie in ages.",
        "Didn't disappoint one bit.", "Heartwarming and hilarious.", "Can't stop thinking about it.",
        "Edge of my seat.", "Wow. Just wow.", "Great cast, great story.", "Perfect date movie.",
        "loved it lol", "Watch it. Trust me.", "Surprisingly great.", "Not boring at all.",
        "A masterpiece, honestly.", "Gorgeous and moving.", "My kids loved it.", "Better than the book.",
        "Scary good.", "Totally worth it.", "I'd watch it again.", "Chills. Actual chills.",
        "no notes, perfect movie", "Best sequel ever made.", "sooo good omg", "Nothing to complain about.",
        "Really, really good.", "Cried, laughed, loved it.", "Hidden gem, seriously.", "That ending got me.",
        "Two thumbs way up.", "Exceeded my expectations.", "Still grinning.", "Smart, funny and warm.",
        "Underrated as hell.", "Gonna buy the Blu-ray.", "An absolute blast.", "Not a dull moment.",
        "Ugly crying. Loved it.", "insane action, loved it", "Go. Now.", "Pure fun.",
        "The music alone, wow.", "Gave me goosebumps.", "Can't wait for part two.", "Stunning visuals, great story.",
        "Yes. Yes. Yes.",
    ],
    "neg": [
        "Total snooze fest.", "Waste of time.", "Awful. Just awful.", "meh, skip it", "Not worth it.",
        "I fell asleep.", "So boring.", "Worst movie ever.", "Didn't enjoy it.", "Painfully bad.",
        "What a mess.", "Zero stars if possible.", "Nope. Just nope.", "Not funny at all.",
        "Complete garbage.", "Lost me early.", "Walked out.", "Save your money, folks.", "Dull and forgettable.",
        "Overhyped and boring.", "Such a letdown.", "Not scary, just stupid.", "Couldn't finish it.",
        "Never again.", "2 hours wasted.", "Terrible acting, terrible plot.", "Big yawn.",
        "Disappointing sequel.", "trash tbh", "The book was better.", "Cringe from start to finish.",
        "Boring and way too long.", "What did I just watch?", "Hard pass.", "Ugh. No.",
        "Pretentious nonsense.", "Oh great, more sequels.", "Fell asleep twice.", "Not even so-bad-it's-good.",
        "Do not recommend.", "Wanted to love it. Didn't.", "Cheap and lazy.", "Felt like three hours.",
        "A total disaster.", "My eyes glazed over.", "Honestly, unwatchable.", "Great trailer, awful movie.",
        "Dumb, loud, pointless.", "Nothing happens. Ever.", "Wow, what a masterpiece. Not.",
        "Great, a two-hour headache.", "Nice poster though.", "Zzzzz. Next.", "so bad it hurts",
        "Rent something else.", "Dreadful, honestly.", "Who approved this?", "Not good. Not fun.",
        "Brilliant... at wasting time.", "I want a refund.",
    ],
}

LONG = {
    "pos": [
        ("I went in expecting another lazy sequel and came out wanting to call my brother, who I haven't "
        "talked to in a year. That's what this movie does. It isn't flashy, the budget is obviously small, "
        "and a couple of scenes run long, but every character feels like someone you've actually met. Go."),
        ("ok so i dont usually write reviews but this one deserves it. the fight in the stairwell?? the "
        "soundtrack?? the fact that the villain actually had a point?? i was grinning like an idiot the "
        "whole time. my gf fell asleep tho so maybe its not for everyone lol"),
        ("Look, the plot is ridiculous. A submarine, a circus, and a heist in the same movie should not work. "
        "But the cast commits so hard, and the director clearly loves every silly minute of it, that I "
        "stopped asking questions around the halfway mark and just enjoyed the ride."),
        ("My grandfather fought in the war this film is about, and I was nervous about how they'd handle it. "
        "They handled it with care. No speeches, no slow-motion heroics, just scared young men trying to get "
        "home. He watched it with me and was quiet for a long time afterwards. Thank you to everyone who made it."),
        ("It's a quiet movie about two old friends fixing up a boat, and somehow it's the most gripping thing "
        "I've seen all year. Nothing \"happens\" in the usual sense. Everything happens in the small stuff."),
        ("I have seen it three times now. The first time for the story, the second for the music, the third "
        "just to watch the background details in the market scenes. Every time I noticed something new."),
        ("Not gonna lie, the first twenty minutes almost lost me. Lots of names, lots of politics. Then the "
        "storm sequence hits and I didn't breathe for ten minutes. Stick with it, it's worth it."),
        ("The reviews called it \"too sentimental.\" Maybe. I cried three times and I'm not ashamed of it. "
        "Sometimes you want a movie that is just kind to its characters and to its audience."),
        ("Took my two boys, 7 and 10, expecting to nap. I did not nap. The dragon sequence had all three of "
        "us gripping the armrests, and the jokes were actually funny for grown-ups too."),
        ("Honestly a perfect Friday night movie. Great cast, tight script, a car chase that made the whole "
        "theater gasp, and it's under two hours. Why can't more movies be like this?"),
        ("The dialogue is weird, the color grading is weird, and the main character barely talks. I loved all "
        "of it. It's the kind of movie that you either sink into or bounce off, and I sank right in."),
        ("It's a documentary about a tiny bakery, which sounds boring, and I expected to check out. Instead I "
        "was hooked by the owner's story, laughed at the regulars, and went out for bread immediately after."),
        ("Gonna keep this short: best horror movie I've seen in years. No cheap scares, a real story, and a "
        "final shot I still can't shake. Don't watch the trailer, it gives too much away."),
        ("The critics hated it and I don't get it. Yes, it's cheesy. Yes, the villain twirls his mustache. "
        "But it has more heart and better jokes than half the \"serious\" films this year."),
        ("I'm a teacher, and I walked out of this thinking about my own students. The classroom scenes are "
        "spot on, the kids sound like real kids, and the ending doesn't pretend everything gets fixed. "
        "Beautiful work."),
    ],
    "neg": [
        ("Oh great, another two hours of my life I'll never get back. The trailer promised a clever mystery. "
        "What we got was a guy staring out of windows while sad music plays. Then a twist that you'll guess "
        "in the first five minutes, and a final scene that just... stops."),
        ("i really wanted to like this one bc the first movie was my childhood. but they changed everything "
        "that made it special, the new characters are annoying and the jokes are all memes from like 5 years "
        "ago. my little brother liked it i guess"),
        ("The acting was great, but the plot made no sense, so skip it. I honestly can't tell you what the "
        "villain wanted, why the sister was in the car, or what the glowing box was. Neither could my friends, "
        "and we spent the whole drive home arguing about it."),
        ("Wow, what a thrill. A two-and-a-half-hour movie where the most exciting scene is a committee meeting. "
        "I've been to dentist appointments with better pacing. The costumes are nice, I'll give it that."),
        ("Everything looks expensive and nothing feels real. The city is CGI, the crowds are CGI, and I'm "
        "fairly sure the lead's tears were CGI. There's a good story buried in here somewhere, but it never "
        "gets a chance to breathe."),
        ("The first half is genuinely good. Then the movie decides it's a romance, then a thriller, then a "
        "comedy, and by the end I had no idea what I was supposed to feel. A real shame, because the cast "
        "is trying their best."),
        ("They called it \"the scariest movie of the decade\" on the poster. I laughed more than I did at the "
        "last comedy I saw. The ghost is a guy in a bedsheet, and I mean that almost literally."),
        ("I don't understand the hype at all. It's two hours of pretty people being sad in pretty apartments. "
        "No story, no jokes, no point. My friend said \"it's about the vibes.\" The vibes were boring."),
        ("Bought tickets for the whole family because of the great reviews. The kids were bored after twenty "
        "minutes, my wife fell asleep, and I spent the second half wondering if I'd left the stove on."),
        ("Not bad for the first ten minutes. After that it's the same fight scene copy-pasted six times with "
        "a different background. By the fourth one I was literally counting the ceiling tiles."),
        ("The music is lovely and the lead actress does what she can. Everything else is a disaster: the "
        "script, the editing, the ending, the random musical number in the hospital. I don't recommend it."),
        ("This is what happens when a studio makes a movie about a toy and forgets to make a movie. Bright "
        "colors, loud noises, zero story. The one good joke is in the trailer, so you've already seen it."),
        ("Sure, it's \"visually stunning.\" So is a screensaver. I wanted characters, or a plot, or a single "
        "line of dialogue that sounded like a human being said it. Instead I got two hours of sunsets."),
        ("The director clearly thinks this is very deep. It is not. It's a shallow story with long pauses "
        "and a lot of staring. If you cut out the scenes of people looking at the ocean, it would be twenty minutes."),
        ("I'm a huge fan of the books and this was painful. They cut my favorite character, rewrote the "
        "ending, and turned a smart heroine into a damsel who needs saving in every single scene."),
    ],
}

# Casual rewrites for some composed reviews (slang, dropped apostrophes, common typos).
CASUAL_SUBS = [
    (r"\byou\b", "u"), (r"\breally\b", "rly"), (r"\bthough\b", "tho"), (r"\bdefinitely\b", "definately"),
    (r"\ba lot\b", "alot"), (r"\bbecause\b", "cuz"), (r"\bdidn't\b", "didnt"), (r"\bdon't\b", "dont"),
    (r"\bI'm\b", "im"), (r"\bit's\b", "its"), (r"\bcan't\b", "cant"), (r"\bdoesn't\b", "doesnt"),
    (r"\bwasn't\b", "wasnt"), (r"\bgoing to\b", "gonna"), (r"\bwant to\b", "wanna"), (r"\bseriously\b", "srsly"),
    (r"\bdisappointed\b", "dissapointed"), (r"\brecommend\b", "reccomend"), (r"\bweird\b", "wierd"),
    (r"\bbelievable\b", "beleivable"), (r"\bthe\b", "teh"),
]
CASUAL_TAGS_POS = [" lol", " tbh", " ngl", " imo", " fr", "!!", " :)"]
CASUAL_TAGS_NEG = [" lol", " tbh", " ngl", " imo", " smh", " ugh", " :/"]


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def fill(rng: random.Random, clause: str, genre: str) -> str:
    singular = GENRES[genre][0]
    article = "an" if singular[0] in "aeiou" else "a"
    clause = clause.replace("a {g}", f"{article} {singular}")
    return (clause.replace("{lead}", rng.choice(LEADS)).replace("{villain}", rng.choice(VILLAINS))
            .replace("{g}", singular).replace("{gs}", GENRES[genre][1]))


def frame(template: str, c: str, o: str = "", s: str = "") -> str:
    out = template.replace("{C}", cap(c)).replace("{c}", c).replace("{O}", cap(o)).replace("{o}", o)
    return out.replace("{S}", cap(s)).replace("{s}", s)


def pick_clause(rng: random.Random, pol: str, genre: str, used_aspects: list[str],
                wrapped: bool = False, aspects: tuple[str, ...] | None = None) -> str:
    """One clause of polarity `pol`, from an aspect not used yet in this review (or the genre pool).

    `wrapped`: the clause goes inside a contrast or a wrapper, so skip clauses that have their own "but".
    `aspects`: restrict the choice to these aspects (no genre pool).
    """
    def ok(clause: str) -> bool:
        return not (wrapped and " but " in clause)

    if aspects is None and rng.random() < 0.2 and "genre" not in used_aspects:
        used_aspects.append("genre")
        return rng.choice([c for c in GENRES[genre][3 if pol == "pos" else 4] if ok(c)])
    aspect = rng.choice([a for a in (aspects or ASPECTS) if a not in used_aspects])
    used_aspects.append(aspect)
    return fill(rng, rng.choice([c for c in ASPECTS[aspect][pol] if ok(c)]), genre)


# Aspects whose clauses do not contradict a verdict of the other polarity ("flip" reviews).
FLIP_ASPECTS = {"pos": ("acting", "plot", "dialogue", "visuals", "characters", "ending", "music"),
                "neg": ("acting", "music", "visuals", "dialogue")}


def casualize(rng: random.Random, text: str, pol: str) -> str:
    subs = rng.sample(CASUAL_SUBS, k=rng.randint(2, 5))
    for pattern, repl in subs:
        if pattern == r"\bthe\b":  # one typo, not every "the"
            text = re.sub(pattern, repl, text, count=1)
        else:
            text = re.sub(pattern, repl, text, flags=re.IGNORECASE)
    if rng.random() < 0.7:
        text = text.lower()
    text = text.rstrip(".")
    if rng.random() < 0.5:
        text += rng.choice(CASUAL_TAGS_POS if pol == "pos" else CASUAL_TAGS_NEG)
    return text


def compose(rng: random.Random, label: int) -> str:
    pol, opp = ("pos", "neg") if label == 1 else ("neg", "pos")
    genre = rng.choice(list(GENRES))
    size = rng.choices(["brief", "medium", "long"], weights=[35, 40, 25])[0]
    n_units = {"brief": 1, "medium": 2, "long": rng.randint(3, 4)}[size]
    used: list[str] = []
    items: list[tuple[str, str]] = []  # (kind, text or clause)
    flip = size != "brief" and rng.random() < 0.15
    if flip:  # every aspect clause leans the other way; only the verdict tells
        while len(items) < n_units:
            items.append(("clause", pick_clause(rng, opp, genre, used, aspects=FLIP_ASPECTS[pol])))
    r = rng.random()
    if flip:
        pass
    elif r < 0.45:  # one contrast sentence (opposite clause + own clause)
        template = rng.choice([t for t in CONTRASTS if CONTRAST_LABEL_ONLY.get(t, pol) == pol])
        items.append(("done", frame(template, "", o=pick_clause(rng, opp, genre, used, wrapped=True),
                                     s=pick_clause(rng, pol, genre, used, wrapped=True))))
    elif r < 0.65 and n_units > 1:  # one conceded opposite clause
        o = pick_clause(rng, opp, genre, used, wrapped=True)
        items.append(("done", frame(rng.choice(CONCESSIONS[pol]), "", o=o)))
    while len(items) < n_units:
        x = rng.random()
        if pol == "neg" and x < 0.12:
            items.append(("done", frame(rng.choice(SARCASM), pick_clause(rng, pol, genre, used, wrapped=True))))
        elif pol == "pos" and x < 0.08:
            items.append(("done", frame(rng.choice(TURNAROUND), pick_clause(rng, pol, genre, used, wrapped=True))))
        else:
            items.append(("clause", pick_clause(rng, pol, genre, used)))
    rng.shuffle(items)
    units = []
    later = LATER_FRAMES[:]
    rng.shuffle(later)
    for i, (kind, text) in enumerate(items):
        if kind == "done":
            units.append(text)
        elif i == 0:
            units.append(frame(rng.choice(FIRST_FRAMES), text))
        else:
            units.append(frame(later.pop(), text))
    lead_in = []
    if size != "brief" or rng.random() < 0.3:
        if rng.random() < 0.55:
            lead_in.append(fill(rng, rng.choice(OPENERS), genre))
        if rng.random() < (0.5 if size == "long" else 0.2):
            lead_in.append(rng.choice(GENRES[genre][2]))
    kind = "hard" if rng.random() < 0.5 else "plain"
    verdict = rng.choice(VERDICTS[pol][kind])
    if flip:
        verdict = rng.choice(FLIP_VERDICTS[pol])
    if rng.random() < 0.15 and size != "brief" and not flip:  # verdict first, then the reasons
        sentences = [verdict] + [x for x in lead_in if x in GENRES[genre][2]] + units
    else:
        sentences = lead_in + units + [verdict]
    text = " ".join(sentences)
    if rng.random() < 0.1:
        text = casualize(rng, text, pol)
    return text


def normalize(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]+", " ", text.lower()).split())


def too_similar(words: set[str], pool: list[set[str]]) -> bool:
    for other in pool:
        inter = len(words & other)
        if inter and inter / len(words | other) >= 0.6:
            return True
    return False


def build() -> tuple[list[tuple[int, str, int]], list[tuple[int, str, int]]]:
    rng = random.Random(SEED)
    seen: set[str] = set()
    docs: dict[int, list[str]] = {0: [], 1: []}
    bags: list[set[str]] = []
    for label, pol in ((1, "pos"), (0, "neg")):
        for text in SHORT[pol] + LONG[pol]:
            key = normalize(text)
            assert key not in seen, f"duplicate hand-written review: {text}"
            seen.add(key)
            docs[label].append(text)
            if len(key.split()) > 5:
                bags.append(set(key.split()))
    attempts = 0
    while min(len(docs[0]), len(docs[1])) < N_PER_LABEL:
        attempts += 1
        assert attempts < 200_000, "generator cannot find enough distinct reviews"
        label = 0 if len(docs[0]) <= len(docs[1]) else 1
        text = compose(rng, label)
        key = normalize(text)
        n_words = len(text.split())
        if key in seen or n_words > 90 or any(ch in text for ch in "\t\r\n"):
            continue
        words = set(key.split())
        if too_similar(words, bags):
            continue
        seen.add(key)
        bags.append(words)
        docs[label].append(text)
    ids = rng.sample(range(1_000_000, 10_000_000), 2 * N_PER_LABEL)
    train: list[tuple[int, str, int]] = []
    test: list[tuple[int, str, int]] = []
    for label in (0, 1):
        pool = docs[label][:N_PER_LABEL]
        rng.shuffle(pool)
        test += [(0, d, label) for d in pool[:N_TEST_PER_LABEL]]
        train += [(0, d, label) for d in pool[N_TEST_PER_LABEL:]]
    rng.shuffle(train)
    rng.shuffle(test)
    train = [(ids[i], d, y) for i, (_, d, y) in enumerate(train)]
    test = [(ids[len(train) + i], d, y) for i, (_, d, y) in enumerate(test)]
    return train, test


def write(path: Path, rows: list[tuple[int, str, int]]) -> None:
    lines = ["id\tdocument\tlabel"] + [f"{i}\t{d}\t{y}" for i, d, y in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))


def main() -> None:
    train, test = build()
    write(OUT_DIR / "reviews_en_train.tsv", train)
    write(OUT_DIR / "reviews_en_test.tsv", test)
    for name, rows in (("train", train), ("test", test)):
        pos = sum(y for _, _, y in rows)
        print(f"{name}: {len(rows)} rows ({len(rows) - pos} negative, {pos} positive)")


if __name__ == "__main__":
    main()
